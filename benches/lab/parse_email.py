"""Python's standard `email` package over the same corpus, for the parse
benchmark (stdlib only). Prints one JSON object.

    python3 parse_email.py SECONDS FILE.eml...

"parse" is BytesParser with the modern policy; "decode" also decodes every
leaf part (transfer encoding and charset), which is closer to what
complaintd's parser does with a message.
"""
import email.parser
import email.policy
import json
import sys
import time


def parse(raw):
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def decode(raw):
    msg = parse(raw)
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            part.get_content()
        except Exception:
            pass  # undecodable parts count as read, as in complaintd
    return msg


def measure(fn, mails, seconds):
    for raw in mails:  # warm-up
        fn(raw)
    rounds, started = 0, time.perf_counter()
    while True:
        for raw in mails:
            fn(raw)
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return {"rounds": rounds, "seconds": elapsed}


def main():
    seconds = float(sys.argv[1])
    mails = [open(p, "rb").read() for p in sys.argv[2:]]
    out = {
        "python": sys.version.split()[0],
        "mails": len(mails),
        "bytes": sum(len(m) for m in mails),
        "parse": measure(parse, mails, seconds),
        "decode": measure(decode, mails, seconds),
    }
    print(json.dumps(out))


main()

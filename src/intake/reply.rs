//! Replies (forms.md "Reply words"): their own text (history stripped, above
//! or below the quote), the line the action is read from (after greetings),
//! the action as a whole word at its start, and what an extension asks for
//! or a close decides.

use chrono::NaiveDate;

use crate::ticket::Action;

use super::extension::{Requested, requested};
use super::forward::{attribution_lines, history_starts_at};
use crate::words::{ReplyWords, fold};

/// What a reply says.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The reply's own text, history stripped.
    pub own_text: String,
    /// The action; `Update` when no word opens the first line.
    pub action: Action,
    /// The first own line after greetings, as written: what the action was read from.
    pub action_line: Option<String>,
    /// The date or duration an extension asks for.
    pub requested: Option<Requested>,
    /// An extension word with no date or duration: read as an update; the
    /// station is to be asked for the date it needs.
    pub extension_undated: bool,
    /// A close's verdict: `false` for 无效 / invalid.
    pub close_valid: Option<bool>,
}

/// Characters that may follow a short Chinese action word without making
/// another word of it: conjunctions, particles and the words that start the
/// next clause. Others (结案**前**, 已处理**过**, 延期**处**理, 重开**机**) do.
/// Words of [`OPEN_ENDED`] characters or more end in their object
/// (已联系客户) and may be followed by anything (已联系客户王女士).
const FOLLOWERS: &str =
    "并且及和与跟同了至到为如完毕好妥约预安说致确沟告今明下本已也再将会客用顾一二两三四五六七八九十半";

const OPEN_ENDED: usize = 5;

/// Lines looked through for the first own line.
const MAX_LEAD_LINES: usize = 200;
/// Characters of that line read for the action (the whole line is kept).
const MAX_LINE_CHARS: usize = 4000;

/// Lead-ins some writers put before the content: not the action.
const LEAD_INS: &[&str] = &["回复", "答复", "回覆", "答覆", "re"];

/// Reads a reply body. `today` is the local day it was written, to place a
/// date written without a year.
pub fn read(body: &str, words: &ReplyWords, today: Option<NaiveDate>) -> Reading {
    let own_text = own_text(body);
    let mut reading = Reading {
        action: Action::Update,
        action_line: None,
        requested: None,
        extension_undated: false,
        close_valid: None,
        own_text,
    };
    let lines: Vec<&str> = reading.own_text.lines().collect();
    let Some((index, rest)) = first_own_line(&lines, words) else {
        return reading;
    };
    reading.action_line = Some(lines[index].trim().to_owned());
    let action = word_action(&rest, words).unwrap_or(Action::Update);
    reading.action = match action {
        Action::Extension => {
            // The paragraph the request opens: the date may follow on the next line.
            let paragraph: Vec<&str> = std::iter::once(rest.as_str())
                .chain(lines[index + 1..].iter().take_while(|l| !l.trim().is_empty()).take(2).copied())
                .collect();
            reading.requested = requested(&paragraph.join("\n"), today);
            reading.extension_undated = reading.requested.is_none();
            if reading.extension_undated { Action::Update } else { Action::Extension }
        }
        Action::Close => {
            reading.close_valid = Some(close_valid(&rest));
            Action::Close
        }
        other => other,
    };
    reading
}

/// The reply's own text: what stands above the first quoted or forwarded
/// part; when nothing does (bottom-posting), the unquoted lines under the
/// `>` quote. Blank lines at both ends trimmed.
pub fn own_text(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let quoted = |l: &str| l.trim_start().starts_with('>');
    let Some(start) = (0..lines.len()).find(|&i| quoted(lines[i]) || history_starts_at(&lines, i)) else {
        return join(&lines);
    };
    let top = join(&lines[..start]);
    if !top.is_empty() {
        return top;
    }
    let mut own = Vec::new();
    let mut seen_quote = false;
    let mut i = start;
    while i < lines.len() {
        if quoted(lines[i]) {
            seen_quote = true;
            if own.last().is_some_and(|l: &&str| !l.trim().is_empty()) {
                own.push("");
            }
            i += 1;
            continue;
        }
        let attribution = attribution_lines(&lines, i);
        if attribution > 0 {
            i += attribution;
            continue;
        }
        // History that is not quoted (a header block) runs to the end.
        if !seen_quote || history_starts_at(&lines, i) {
            break;
        }
        own.push(lines[i]);
        i += 1;
    }
    join(&own)
}

fn join(lines: &[&str]) -> String {
    let own: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    own.join("\n").trim_matches('\n').to_owned()
}

/// The first line with content after greetings and lead-ins: its index, and
/// its folded text from where the content starts.
fn first_own_line(lines: &[&str], words: &ReplyWords) -> Option<(usize, String)> {
    // Greetings and blank lines take a few lines, not hundreds.
    for (i, line) in lines.iter().enumerate().take(MAX_LEAD_LINES) {
        let folded: Vec<char> = fold(line.trim()).chars().take(MAX_LINE_CHARS).collect();
        let rest = strip_lead_in(strip_salutation(&folded, words));
        if rest.iter().any(|c| c.is_alphanumeric()) && !is_addressee(rest, words) {
            return Some((i, rest.iter().collect()));
        }
    }
    None
}

/// Punctuation and marks that separate a greeting or lead-in from the content.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || ",:!.;~、。，：！；…-—【[(（「*#".contains(c)
}

fn skip_separators(chars: &[char]) -> &[char] {
    let start = chars.iter().position(|c| !is_separator(*c)).unwrap_or(chars.len());
    &chars[start..]
}

/// Drops a leading greeting. One ending in 好 (您好, 各位好) may follow a
/// short addressee (投诉组您好：, 刘工，您好！); others (Dear, Hi, 尊敬的,
/// 各位) open the line and run to its first comma or colon.
fn strip_salutation<'a>(line: &'a [char], words: &ReplyWords) -> &'a [char] {
    let line = skip_separators(line);
    for s in &words.salutations {
        let s: Vec<char> = s.chars().collect();
        if s.last() == Some(&'好') {
            let Some(at) = (0..=line.len().saturating_sub(s.len()).min(16)).find(|&at| line[at..].starts_with(&s))
            else {
                continue;
            };
            // The addressee is a name, not a sentence that happens to say 你好.
            let addressee = &line[..at];
            if addressee.contains(&'。') || word_action(&addressee.iter().collect::<String>(), words).is_some() {
                continue;
            }
            return skip_separators(&line[at + s.len()..]);
        }
        if line.starts_with(&s) && line.get(s.len()).is_none_or(|c| !c.is_ascii_alphanumeric() || !s[0].is_ascii()) {
            let rest = &line[s.len()..];
            return match rest.iter().position(|c| matches!(c, ',' | ':' | '!')) {
                Some(end) if end <= 40 => skip_separators(&rest[end + 1..]),
                // "Dear desk" on its own line.
                _ if rest.len() <= 40 => &[],
                _ => skip_separators(rest),
            };
        }
    }
    line
}

/// Words of headings, never of an addressee.
const NOT_NAMES: &[&str] = &[
    "请", "如下", "以下", "补充", "说明", "情况", "问题", "原因", "进展", "备注", "注意", "附件", "结果", "note",
    "update",
];

/// A line that only names whom the mail is for, letter style: "刘工：",
/// "投诉组：", "李经理，" (short, ending in a colon or comma, no action word).
fn is_addressee(line: &[char], words: &ReplyWords) -> bool {
    let Some((&last, name)) = line.split_last() else {
        return false;
    };
    let limit = match last {
        ':' => 16,
        ',' => 8,
        _ => return false,
    };
    let name_text: String = name.iter().collect();
    name.len() <= limit
        && !name.iter().any(|c| is_separator(*c) && *c != ' ')
        // A heading ("请站点补充：", "原因如下：") introduces content; it names nobody.
        && !NOT_NAMES.iter().any(|w| name_text.contains(w))
        && word_action(&name.iter().collect::<String>(), words).is_none()
}

/// Drops "回复：" / "Re:", opening brackets, list marks and list numbers
/// ("1、", "2.", "一、", "(1)") before the content.
fn strip_lead_in(line: &[char]) -> &[char] {
    let mut line = skip_separators(line);
    let digits = line.iter().take(3).take_while(|c| c.is_ascii_digit() || "一二三四五六七八九十".contains(**c)).count();
    if (1..=2).contains(&digits) && line.get(digits).is_some_and(|c| "、.)）".contains(*c)) {
        line = skip_separators(&line[digits + 1..]);
    }
    for lead in LEAD_INS {
        let lead: Vec<char> = lead.chars().collect();
        if line.starts_with(&lead) {
            let after = &line[lead.len()..];
            let spaces = after.iter().take_while(|c| c.is_whitespace()).count();
            if matches!(after.get(spaces), Some(':')) {
                return skip_separators(&after[spaces + 1..]);
            }
        }
    }
    line
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{3134F}')
}

/// The action whose word opens `text` (folded) as a whole word, unless the
/// first clause negates it.
fn word_action(text: &str, words: &ReplyWords) -> Option<Action> {
    let chars: Vec<char> = text.chars().collect();
    let (len, action) = words.actions.iter().find_map(|(w, action)| {
        let w: Vec<char> = w.chars().collect();
        if !chars.starts_with(&w) {
            return None;
        }
        let last = *w.last()?;
        let whole = match chars.get(w.len()) {
            None => true,
            Some(&next) if last.is_ascii_alphanumeric() => !next.is_ascii_alphanumeric(),
            Some(&next) if is_cjk(last) && is_cjk(next) => w.len() >= OPEN_ENDED || FOLLOWERS.contains(next),
            Some(_) => true,
        };
        whole.then_some((w.len(), *action))
    })?;
    let clause_end = chars.iter().skip(len).position(|c| ",.;!?。；，\n".contains(*c)).map_or(chars.len(), |p| p + len);
    let clause: String = chars[..clause_end].iter().collect();
    (!words.negations.iter().any(|n| contains_phrase(&clause, n))).then_some(action)
}

/// `phrase` in `text`; an ASCII phrase only as whole words.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    if !phrase.is_ascii() {
        return text.contains(phrase);
    }
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// A close is valid unless its line says 无效 / invalid / 不成立.
fn close_valid(line: &str) -> bool {
    !["无效", "不成立", "不属实", "invalid", "not valid"].iter().any(|w| line.contains(w))
}

/// Whether `own_text` is an acknowledgement sent by a machine ("您的来信已
/// 收到…"): short, naming no action, and carrying one of the texts.
pub fn is_acknowledgement(reading: &Reading, words: &ReplyWords) -> bool {
    if reading.action != Action::Update || reading.extension_undated || reading.own_text.chars().count() > 600 {
        return false;
    }
    let folded = fold(&reading.own_text);
    words.acknowledgements.iter().any(|a| contains_phrase(&folded, a))
}

#[cfg(test)]
mod tests;

//! The desk's moves a reply may name besides the forms.md words: a
//! station's return (退回: 不属于本站, 非本站服务范围, 请转…) and the
//! handler's move to another station ("转 SH02"). Pure: read from the
//! reply's first own line, as whole words, negations considered.

use crate::config::Station;
use crate::ticket::Action;

/// A move between stations named by a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// The complaint is not the writer's: from a station, a return
    /// (退回); `to` is the station it names, if one it names is known.
    Return { to: Option<String> },
    /// "转 SH02": to the station written, `None` when it names no known one.
    Reassign { to: Option<String>, written: String },
}

impl Move {
    /// The action the reply is, as recorded.
    pub fn action(&self) -> Action {
        match self {
            Self::Return { .. } => Action::Return,
            Self::Reassign { .. } => Action::Reassign,
        }
    }
}

/// Words that open a return, the station's own words.
const RETURN_WORDS: &[&str] =
    &["退回", "退单", "不属于本站", "不属于我站", "不属于本服务站", "非本站服务范围", "非本站"];
/// Words before a return word that deny it (不退回, 无需退回, 并非不属于本站).
const NEGATIONS: &[&str] = &["不", "未", "没有", "没", "无需", "无须", "不用", "不要", "并非", "不是"];
/// What may join "转" to the station (转给 SH02, 改派至 SH02).
const JOINERS: &[char] = &['给', '至', '到', '交'];

/// The move the reply's first own line names, if any (`stations`: the
/// directory, to know the station a line names).
pub fn read(own_text: &str, stations: &[Station]) -> Option<Move> {
    let line = first_own_line(own_text);
    if let Some(rest) = ["转派", "改派", "转"].iter().find_map(|w| line.strip_prefix(w)) {
        return reassign(rest, stations);
    }
    if let Some(rest) = line.strip_prefix("请转") {
        // 请转告 / 请转达 / 请转发 are "please pass on", not a return.
        return target(rest, stations).map(|(to, _)| Move::Return { to });
    }
    let negated = NEGATIONS.iter().find_map(|n| line.strip_prefix(n)).unwrap_or(line);
    let word = RETURN_WORDS.iter().find(|w| line.starts_with(*w) || negated.starts_with(*w))?;
    if !line.starts_with(word) {
        return None;
    }
    Some(Move::Return { to: named_station(line, stations) })
}

/// The first line that is neither blank nor a salutation (您好： / 投诉组您好， / Dear desk,).
fn first_own_line(text: &str) -> &str {
    text.lines()
        .map(|l| l.trim().trim_start_matches(['【', '[', '（', '(']))
        .find(|l| !l.is_empty() && !is_salutation(l))
        .unwrap_or("")
}

fn is_salutation(line: &str) -> bool {
    let Some(head) = line.strip_suffix([':', '：', ',', '，', '!', '！']) else { return false };
    let lower = head.to_ascii_lowercase();
    head.chars().count() <= 12 && (head.ends_with('好') || lower.starts_with("dear") || lower.starts_with("hi"))
}

/// "转 SH02" after its verb: a known station makes a move; an unknown one
/// is still the handler's move (the desk says it is unknown).
fn reassign(rest: &str, stations: &[Station]) -> Option<Move> {
    let (to, written) = target(rest, stations)?;
    if written.is_empty() {
        return None;
    }
    Some(Move::Reassign { to, written })
}

/// The station after "转": separated by a joiner, a colon or space, or a
/// code right away ("转SH02"). `None` when "转" begins another word (转发,
/// 转告); `Some((None, ""))` when nothing follows.
fn target(rest: &str, stations: &[Station]) -> Option<(Option<String>, String)> {
    let joined = rest.strip_prefix(JOINERS);
    let after = joined.unwrap_or(rest);
    let trimmed = after.trim_start_matches(|c: char| c.is_whitespace() || c == ':' || c == '：');
    let separated = joined.is_some() || trimmed.len() != after.len();
    if !separated && !trimmed.is_empty() && !trimmed.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let written: String = trimmed.chars().take_while(|c| !is_break(*c)).collect();
    let to = stations
        .iter()
        .find(|s| s.code.eq_ignore_ascii_case(&written) || (!s.name.is_empty() && written.starts_with(&s.name)))
        .map(|s| s.code.clone());
    Some((to, written))
}

fn is_break(c: char) -> bool {
    c.is_whitespace() || "，,。.；;：:！!？?（(）)".contains(c)
}

/// A station the line names: a code as a whole word, or a name.
fn named_station(line: &str, stations: &[Station]) -> Option<String> {
    let words: Vec<&str> = line.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    stations
        .iter()
        .find(|s| {
            words.iter().any(|w| w.eq_ignore_ascii_case(&s.code)) || (!s.name.is_empty() && line.contains(&s.name))
        })
        .map(|s| s.code.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stations() -> Vec<Station> {
        let st = |code: &str, name: &str| Station {
            code: code.into(),
            name: name.into(),
            emails: vec![],
            regions: vec![],
            manager: String::new(),
            backups: vec![],
            calendar: None,
        };
        vec![st("BJ01", "北京海淀服务站"), st("SH02", "上海徐汇服务站")]
    }

    fn read(text: &str) -> Option<Move> {
        super::read(text, &stations())
    }

    #[test]
    fn returns_with_and_without_a_station() {
        assert_eq!(read("不属于本站，客户在上海"), Some(Move::Return { to: None }));
        assert_eq!(read("您好：\n\n非本站服务范围，应由SH02处理"), Some(Move::Return { to: Some("SH02".into()) }));
        assert_eq!(read("退回：客户在上海徐汇服务站辖区"), Some(Move::Return { to: Some("SH02".into()) }));
        assert_eq!(read("请转 SH02"), Some(Move::Return { to: Some("SH02".into()) }));
        assert_eq!(read("请转至上海徐汇服务站"), Some(Move::Return { to: Some("SH02".into()) }));
        assert_eq!(read("请转"), Some(Move::Return { to: None }));
    }

    #[test]
    fn other_words_and_negations_are_no_return() {
        assert_eq!(read("请转告客户明天上门"), None);
        assert_eq!(read("不退回，我站处理"), None);
        assert_eq!(read("无需退回"), None);
        assert_eq!(read("已联系客户，不属于本站的部分已说明"), None);
        assert_eq!(read("转发客户的照片"), None);
        assert_eq!(read("SH02 的客户"), None);
    }

    #[test]
    fn the_handlers_move() {
        let to = |code: &str, written: &str| Some(Move::Reassign { to: Some(code.into()), written: written.into() });
        assert_eq!(read("转 SH02"), to("SH02", "SH02"));
        assert_eq!(read("转SH02，客户在上海"), to("SH02", "SH02"));
        assert_eq!(read("改派给 sh02"), to("SH02", "sh02"));
        assert_eq!(read("转：上海徐汇服务站"), to("SH02", "上海徐汇服务站"));
        assert_eq!(read("转 XX99"), Some(Move::Reassign { to: None, written: "XX99".into() }));
        assert_eq!(read("转"), None);
        assert_eq!(read("转告站长"), None);
    }
}

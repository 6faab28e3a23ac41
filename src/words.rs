//! The words a reply is read by (forms.md "Reply words"): action words,
//! salutations, negations and acknowledgement texts. Built-in defaults, which
//! the `[replies]` config section extends (never replaces), checked at start-up.
//! Matching folds traditional characters and full-width ASCII, so each word
//! is written once, in either script.

use serde::Deserialize;

use crate::ticket::Action;

/// The `[replies]` section: words added to the built-in ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplySettings {
    /// More words that start a "contacted" reply.
    #[serde(default)]
    pub contacted: Vec<String>,
    /// More words that start a "result" reply.
    #[serde(default)]
    pub result: Vec<String>,
    /// More words that start an extension request.
    #[serde(default)]
    pub extension: Vec<String>,
    /// More words that start a close (handlers only).
    #[serde(default)]
    pub close: Vec<String>,
    /// More words that start a reopen (handlers only).
    #[serde(default)]
    pub reopen: Vec<String>,
    /// More greetings skipped before the action ("王经理好").
    #[serde(default)]
    pub salutations: Vec<String>,
    /// More phrases that make the first clause an update ("暂未联系").
    #[serde(default)]
    pub negations: Vec<String>,
    /// More texts of automatic acknowledgements ("您的邮件我们已收到").
    #[serde(default)]
    pub acknowledgements: Vec<String>,
    /// The words compiled at first use: once per loaded config, not once per
    /// mail (that was 40 % of a mail's parse). A reload loads new settings.
    #[serde(skip)]
    compiled: std::sync::OnceLock<ReplyWords>,
}

const CONTACTED: &[&str] = &[
    "已联系用户",
    "已联系客户",
    "已联系顾客",
    "已联系车主",
    "已联系业主",
    "已联系上",
    "已联系到",
    "已联系",
    "已联络",
    "已经联系客户",
    "已经联系用户",
    "已经联系",
    "已电话联系",
    "已与客户联系",
    "已和客户联系",
    "已与用户联系",
    "已和用户联系",
    "已致电客户",
    "已致电用户",
    "已致电",
    "contacted",
];
const RESULT: &[&str] = &[
    "处理结果",
    "已处理",
    "已解决",
    "已经处理",
    "已经解决",
    "已修复",
    "已修好",
    "已完成维修",
    "维修完成",
    "result",
    "resolved",
    "fixed",
];
const EXTENSION: &[&str] = &[
    "申请延期",
    "申请延时",
    "延期申请",
    "延期",
    "申请延长",
    "延长",
    "顺延",
    "extension",
    "extend",
    "request extension",
];
const CLOSE: &[&str] = &["结案", "同意结案", "close", "closed"];
const REOPEN: &[&str] = &["重新打开", "重开", "reopen", "reopened", "re-open"];

/// Greetings found near the start of the first line, after an addressee
/// ("投诉组您好：", "刘工，您好！"); English ones open the line ("Dear desk,").
const SALUTATIONS: &[&str] = &[
    "您好",
    "你好",
    "您们好",
    "你们好",
    "大家好",
    "各位好",
    "各位领导好",
    "领导好",
    "老师好",
    "同事们好",
    "早上好",
    "上午好",
    "中午好",
    "下午好",
    "晚上好",
    "尊敬的",
    "各位领导",
    "各位同事",
    "各位",
    "dear",
    "hi",
    "hello",
    "hey",
    "good morning",
    "good afternoon",
    "good evening",
];

/// Phrases that, in the first clause, undo the action word: the station
/// says it has NOT done it.
const NEGATIONS: &[&str] = &[
    "未联系",
    "尚未",
    "暂未",
    "还未",
    "仍未",
    "未能",
    "未果",
    "无果",
    "没联系",
    "没有联系",
    "联系不上",
    "联系不到",
    "无法联系",
    "未接通",
    "未接听",
    "无人接听",
    "打不通",
    "未解决",
    "没解决",
    "没有解决",
    "未处理",
    "没处理",
    "没有处理",
    "失败",
    "not",
    "unable",
    "cannot",
    "can't",
    "couldn't",
    "could not",
    "no answer",
    "unreachable",
    "failed",
];

/// Texts of automatic acknowledgements that carry no RFC 3834 header.
const ACKNOWLEDGEMENTS: &[&str] = &[
    "您的来信已收到",
    "来信已收到",
    "来信收到",
    "您的邮件已收到",
    "您的邮件我已收到",
    "您的邮件我们已收到",
    "已收到您的来信",
    "此邮件为自动回复",
    "此为自动回复",
    "这是一封自动回复",
    "本邮件为自动回复",
    "本邮件为系统自动",
    "系统自动回复",
    "自动回复邮件",
    "请勿直接回复",
    "我目前不在办公室",
    "我现在不在办公室",
    "this is an automatic reply",
    "this is an automated",
    "this is an auto-reply",
    "i am currently out of the office",
    "i am out of the office",
    "i'm out of the office",
    "thank you for your email. this is an automatic",
];

/// The words, defaults and config together, folded for matching.
#[derive(Debug, Clone)]
pub struct ReplyWords {
    /// (folded word, action), longest first: the longest match wins.
    pub actions: Vec<(String, Action)>,
    pub salutations: Vec<String>,
    pub negations: Vec<String>,
    pub acknowledgements: Vec<String>,
}

impl ReplyWords {
    /// The built-in words plus those of `extra`.
    pub fn new(extra: &ReplySettings) -> Self {
        let mut actions = Vec::new();
        for (action, builtin, more) in [
            (Action::Contacted, CONTACTED, &extra.contacted),
            (Action::Result, RESULT, &extra.result),
            (Action::Extension, EXTENSION, &extra.extension),
            (Action::Close, CLOSE, &extra.close),
            (Action::Reopen, REOPEN, &extra.reopen),
        ] {
            for w in builtin.iter().copied().chain(more.iter().map(String::as_str)) {
                let w = fold(w.trim());
                if !w.is_empty() && !actions.iter().any(|(x, _)| *x == w) {
                    actions.push((w, action));
                }
            }
        }
        actions.sort_by_key(|(w, _)| std::cmp::Reverse(w.chars().count()));
        let list = |builtin: &[&str], more: &[String]| -> Vec<String> {
            let mut out: Vec<String> = builtin
                .iter()
                .copied()
                .chain(more.iter().map(String::as_str))
                .map(|w| fold(w.trim()))
                .filter(|w| !w.is_empty())
                .collect();
            out.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
            out.dedup();
            out
        };
        Self {
            actions,
            salutations: list(SALUTATIONS, &extra.salutations),
            negations: list(NEGATIONS, &extra.negations),
            acknowledgements: list(ACKNOWLEDGEMENTS, &extra.acknowledgements),
        }
    }
}

impl ReplySettings {
    /// The built-in words with this section's, compiled for matching.
    pub fn words(&self) -> &ReplyWords {
        self.compiled.get_or_init(|| ReplyWords::new(self))
    }

    /// What is wrong with the section, as (key, problem) pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let lists: [(&str, &[String]); 8] = [
            ("contacted", &self.contacted),
            ("result", &self.result),
            ("extension", &self.extension),
            ("close", &self.close),
            ("reopen", &self.reopen),
            ("salutations", &self.salutations),
            ("negations", &self.negations),
            ("acknowledgements", &self.acknowledgements),
        ];
        let builtin = ReplyWords::new(&ReplySettings::default());
        let mut seen: Vec<(String, String)> = Vec::new();
        for (name, words) in lists {
            for (i, w) in words.iter().enumerate() {
                let key = format!("replies.{name}[{i}]");
                let folded = fold(w.trim());
                if folded.is_empty() {
                    found.push((key.clone(), "an empty word matches every reply".into()));
                } else if w.contains(['\n', '\r']) {
                    found.push((key.clone(), format!("{w:?} spans lines; a word is matched on one line")));
                } else if let Some((other, _)) = seen.iter().find(|(_, f)| *f == folded) {
                    found.push((key.clone(), format!("{w:?} is also in {other}")));
                } else if name != "salutations" && name != "negations" && name != "acknowledgements" {
                    // An action word that is also a built-in of another
                    // action would make the reading depend on the order.
                    if let Some((_, action)) = builtin.actions.iter().find(|(b, _)| *b == folded)
                        && action.as_str() != name
                    {
                        found.push((key.clone(), format!("{w:?} is already a built-in {} word", action.as_str())));
                    }
                }
                seen.push((key, folded));
            }
        }
        found
    }
}

/// Lowercases ASCII, maps full-width ASCII to ASCII, and traditional
/// characters found in replies to simplified ones; one char for one char.
pub fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// [`fold`] for one character.
pub fn fold_char(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    TRADITIONAL.iter().find(|(t, _)| *t == c).map_or(c, |(_, s)| *s)
}

/// Traditional → simplified, for the characters of the words above and of
/// the phrases replies carry around them.
const TRADITIONAL: &[(char, char)] = &[
    ('聯', '联'),
    ('繫', '系'),
    ('絡', '络'),
    ('戶', '户'),
    ('處', '处'),
    ('結', '结'),
    ('決', '决'),
    ('請', '请'),
    ('開', '开'),
    ('電', '电'),
    ('話', '话'),
    ('與', '与'),
    ('無', '无'),
    ('過', '过'),
    ('後', '后'),
    ('週', '周'),
    ('沒', '没'),
    ('還', '还'),
    ('達', '达'),
    ('約', '约'),
    ('確', '确'),
    ('認', '认'),
    ('訪', '访'),
    ('複', '复'),
    ('覆', '复'),
    ('經', '经'),
    ('順', '顺'),
    ('復', '复'),
    ('動', '动'),
    ('郵', '邮'),
    ('們', '们'),
    ('領', '领'),
    ('導', '导'),
    ('顧', '顾'),
    ('車', '车'),
    ('業', '业'),
    ('維', '维'),
    ('會', '会'),
    ('個', '个'),
    ('兩', '两'),
    ('時', '时'),
    ('間', '间'),
    ('長', '长'),
    ('敗', '败'),
    ('聽', '听'),
    ('來', '来'),
    ('統', '统'),
    ('為', '为'),
    ('這', '这'),
    ('辦', '办'),
    ('現', '现'),
    ('號', '号'),
    ('讀', '读'),
    ('閱', '阅'),
    ('執', '执'),
    ('傳', '传'),
    ('遞', '递'),
    ('遲', '迟'),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_is_one_char_for_one() {
        assert_eq!(fold("已聯繫客戶"), "已联系客户");
        assert_eq!(fold("ＣＯＮＴＡＣＴＥＤ：ok"), "contacted:ok");
        assert_eq!(fold("結案（無效）").chars().count(), "結案（無效）".chars().count());
    }

    #[test]
    fn config_words_are_checked() {
        let extra = ReplySettings {
            contacted: vec!["已电话回访".into(), " ".into(), "处理结果".into()],
            negations: vec!["暂未回访".into(), "暂未回访".into()],
            ..ReplySettings::default()
        };
        let problems = extra.problems();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["replies.contacted[1]", "replies.contacted[2]", "replies.negations[1]"]);
        assert!(ReplySettings::default().problems().is_empty());
        let words = ReplyWords::new(&extra);
        assert!(words.actions.iter().any(|(w, a)| w == "已电话回访" && *a == Action::Contacted));
    }
}

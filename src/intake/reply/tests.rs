use super::*;
use crate::words::ReplySettings;

fn words() -> ReplyWords {
    ReplyWords::new(&ReplySettings::default())
}

fn action(text: &str) -> Action {
    read(text, &words(), None).action
}

#[test]
fn reply_words() {
    assert_eq!(action("已联系客户，明天上门。"), Action::Contacted);
    assert_eq!(action("\n\n已聯繫用戶"), Action::Contacted);
    assert_eq!(action("处理结果：已更换电池"), Action::Result);
    assert_eq!(action("Resolved, replaced the board"), Action::Result);
    assert_eq!(action("申請延期至2026年11月20日"), Action::Extension);
    assert_eq!(action("延期3天"), Action::Extension);
    assert_eq!(action("结案，有效投诉"), Action::Close);
    assert_eq!(action("CLOSE"), Action::Close);
    assert_eq!(action("重開"), Action::Reopen);
    assert_eq!(action("客户不在家，改约明天"), Action::Update);
    assert_eq!(action(""), Action::Update);
    assert_eq!(action("已联系客户并致歉，明天上门"), Action::Contacted);
    assert_eq!(action("已处理完毕"), Action::Result);
}

#[test]
fn whole_words_only() {
    assert_eq!(action("结案前请贵站再回访一次客户"), Action::Update);
    assert_eq!(action("Closely follow this one"), Action::Update);
    assert_eq!(action("Extended warranty covers the part"), Action::Update);
    assert_eq!(action("已处理过一次，但客户仍不满意"), Action::Update);
    assert_eq!(action("延期处理的原因：配件未到货"), Action::Update);
    assert_eq!(action("重开机后恢复正常"), Action::Update);
    assert_eq!(action("Contacted."), Action::Contacted);
}

#[test]
fn negations_are_updates() {
    assert_eq!(action("未联系上客户"), Action::Update);
    assert_eq!(action("尚未联系"), Action::Update);
    assert_eq!(action("联系不上"), Action::Update);
    assert_eq!(action("已联系，客户电话无人接听"), Action::Contacted);
    assert_eq!(action("已联系未果，明天再打"), Action::Update);
    assert_eq!(action("已联系客户但联系不上"), Action::Update);
    assert_eq!(action("Contacted but no answer"), Action::Update);
}

#[test]
fn salutations_are_skipped() {
    assert_eq!(action("投诉组您好：\n已联系客户"), Action::Contacted);
    assert_eq!(action("您好：\n\n已联系客户，明天上门。"), Action::Contacted);
    assert_eq!(action("各位好，\n处理结果：已更换主板"), Action::Result);
    assert_eq!(action("Dear desk,\n\nContacted the customer."), Action::Contacted);
    assert_eq!(action("Hi Liu, contacted the customer today."), Action::Contacted);
    assert_eq!(action("刘工，您好！已联系用户。"), Action::Contacted);
    assert_eq!(action("尊敬的投诉组：\n已解决"), Action::Result);
    assert_eq!(action("投訴組您好：\n已聯繫客戶"), Action::Contacted);
    assert_eq!(action("您好，已处理好了"), Action::Result);
    assert_eq!(action("刘工：\n    您好！\n    已联系客户王女士，约明天上门。"), Action::Contacted);
    assert_eq!(action("处理结果：\n已更换主板"), Action::Result);
    // "你好" inside a sentence is not a greeting.
    assert_eq!(action("已联系客户，客户说你好"), Action::Contacted);
}

#[test]
fn lead_ins_are_not_the_action() {
    assert_eq!(action("回复：已联系用户"), Action::Contacted);
    assert_eq!(action("答复: 已解决"), Action::Result);
    assert_eq!(action("【已处理】更换主板"), Action::Result);
    assert_eq!(action("Re: contacted the customer"), Action::Contacted);
    assert_eq!(action("回复"), Action::Update);
    assert_eq!(action("1、已联系客户\n2、明天上门"), Action::Contacted);
    assert_eq!(action("一、处理结果：已更换"), Action::Result);
    assert_eq!(action("(1) 已解决"), Action::Result);
    assert_eq!(action("3天后再上门"), Action::Update);
}

#[test]
fn extensions_need_a_date() {
    let r = read("申请延期：配件需从厂家调货，预计周五到。", &words(), None);
    assert_eq!((r.action, r.extension_undated, r.requested), (Action::Update, true, None));
    let r = read("申请延期\n预计2026-11-20完成\n\n李工", &words(), None);
    assert_eq!(r.action, Action::Extension);
    assert!(matches!(r.requested, Some(Requested::Until { .. })));
    assert_eq!(r.action_line.as_deref(), Some("申请延期"));
}

#[test]
fn close_verdicts() {
    assert_eq!(read("结案，有效投诉", &words(), None).close_valid, Some(true));
    assert_eq!(read("结案（无效）", &words(), None).close_valid, Some(false));
    assert_eq!(read("結案，無效投訴", &words(), None).close_valid, Some(false));
    assert_eq!(read("Close - invalid", &words(), None).close_valid, Some(false));
    assert_eq!(read("已联系", &words(), None).close_valid, None);
}

#[test]
fn config_words_extend() {
    let mut extra = ReplySettings::default();
    extra.contacted = vec!["已电话回访".into()];
    extra.salutations = vec!["王经理好".into()];
    extra.negations = vec!["暂时未能".into()];
    let w = extra.words();
    assert_eq!(read("王经理好！\n已电话回访客户", w, None).action, Action::Contacted);
}

#[test]
fn quoted_history_is_stripped() {
    let body = "已联系客户，明天上午上门。\r\n\r\n> 投诉单号：HC20261116001\r\n";
    assert_eq!(own_text(body), "已联系客户，明天上午上门。");
    let body = "\n已处理\n李工\n\n在 2026-11-16 09:30:00，\"刘嘉\" <l@h> 写道：\n紧急程度：加急";
    assert_eq!(own_text(body), "已处理\n李工");
    let body = "Done\n\n-----Original Message-----\nFrom: a";
    assert_eq!(own_text(body), "Done");
}

#[test]
fn bottom_posted_text_is_found() {
    let body = "在 2026-11-16 09:30:00，\"刘嘉\" <l@h> 写道：\n> 紧急程度：加急\n> 客户姓名：马丽\n\n已联系客户，明天上门。\n\n李工";
    assert_eq!(own_text(body), "已联系客户，明天上门。\n\n李工");
    let body = "On Mon, Nov 16, 2026 at 9:30 AM Desk <\nd@h> wrote:\n> a\n>\nContacted the customer.";
    assert_eq!(own_text(body), "Contacted the customer.");
    let body = "> 在 2026年11月17日，10:35，投诉组 <c@h> 写道：\n>\n> 紧急程度：紧急\n\n已解决";
    assert_eq!(action(body), Action::Result);
    // An unquoted header block holds no answer under it.
    assert_eq!(own_text("发件人: a\n发送时间: b\n收件人: c\n\n已处理"), "");
}

//! The complaint and pre-report forms (forms.md): "label：value" lines, the
//! fields they fill, and what is missing or unreadable.

use crate::config::{Settings, Station};
use crate::ticket::Urgency;

use super::Fields;
use super::forward::history_starts_at;

/// A form field, as named in forms.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ComplaintNo,
    Urgency,
    Category,
    Station,
    CustomerName,
    Phone,
    ServiceOrder,
    Product,
    Serial,
    Region,
    Address,
    Description,
    Demand,
    Handler,
    Reporter,
    ActionsTaken,
    Major,
    ExpectedResolution,
}

/// Labels per field, normalized (see [`normalize_label`]).
const LABELS: &[(Field, &[&str])] = &[
    (Field::ComplaintNo, &["投诉单号", "工单号", "complaintno", "complaintnumber"]),
    (Field::Urgency, &["紧急程度", "处理时效", "时效", "urgency", "緊急程度", "處理時效"]),
    (Field::Category, &["投诉分类", "分类", "category", "投訴分類", "分類"]),
    (Field::Station, &["服务站", "服务机构", "服务网点", "station", "服務站", "服務機構", "服務網點"]),
    (
        Field::CustomerName,
        &["客户姓名", "用户姓名", "客户", "customer", "customername", "客戶姓名", "用戶姓名", "客戶"],
    ),
    (Field::Phone, &["联系电话", "电话", "手机", "phone", "聯繫電話", "聯絡電話", "電話", "手機"]),
    (Field::ServiceOrder, &["服务单号", "报修单号", "serviceorder", "服務單號", "報修單號"]),
    (Field::Product, &["产品型号", "机型", "product", "產品型號", "機型"]),
    (Field::Serial, &["序列号", "机器序列号", "serial", "serialno", "序列號", "機器序列號"]),
    (Field::Region, &["所在地区", "地区", "区域", "region", "所在地區", "地區", "區域"]),
    (Field::Address, &["地址", "address"]),
    (Field::Description, &["投诉内容", "问题描述", "description", "投訴內容", "問題描述"]),
    (Field::Demand, &["客户诉求", "诉求", "demand", "客戶訴求", "訴求"]),
    (Field::Handler, &["受理人", "处理人", "handler", "處理人"]),
    (Field::Reporter, &["报备人", "reporter", "報備人"]),
    (Field::ActionsTaken, &["已采取措施", "处理措施", "actionstaken", "已採取措施", "處理措施"]),
    (Field::Major, &["是否重大投诉", "major", "是否重大投訴"]),
    (Field::ExpectedResolution, &["预计解决时间", "expectedresolution", "預計解決時間"]),
];

/// Fields whose label alone makes a text a form. Phone, address and the like
/// also appear in ordinary signatures, so they do not count on their own.
const FORM_MARKERS: &[Field] = &[
    Field::ComplaintNo,
    Field::Urgency,
    Field::Category,
    Field::Station,
    Field::CustomerName,
    Field::ServiceOrder,
    Field::Description,
    Field::Demand,
    Field::Reporter,
    Field::ActionsTaken,
    Field::Major,
];

/// Station values that mean "none named", so routing falls back to the region.
const NO_STATION: &[&str] = &["无", "無", "待定", "待分配", "未知", "-", "/", "n/a", "none", "tbd"];

/// Longest value kept for one field; a form value is a sentence or two.
const MAX_VALUE_CHARS: usize = 4000;
/// Most lines read when looking for a form.
const MAX_LINES: usize = 5000;

/// The label/value pairs found in a text, first occurrence of each field.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RawForm {
    /// Field and its trimmed value (lines joined with '\n'), in text order.
    pub values: Vec<(Field, String)>,
}

impl RawForm {
    /// The value of `field`, if the form has it and it is not empty.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.values.iter().find(|(f, _)| *f == field).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// Whether the text carries a complaint or pre-report form.
    pub fn is_form(&self) -> bool {
        self.values.iter().any(|(f, _)| FORM_MARKERS.contains(f))
    }
}

/// Strips what decorates a label: spaces (full-width too, used to pad short
/// labels), required marks, brackets, a trailing dot; ASCII lowercased.
fn normalize_label(label: &str) -> String {
    label
        .chars()
        .filter(|c| !c.is_whitespace() && !"*＊【】[]「」.。".contains(*c))
        .collect::<String>()
        .to_ascii_lowercase()
}

fn field_for_label(label: &str) -> Option<Field> {
    if label.chars().count() > 24 {
        return None;
    }
    let label = normalize_label(label);
    LABELS.iter().find(|(_, labels)| labels.contains(&label.as_str())).map(|(field, _)| *field)
}

/// Splits "label：value" (full- or half-width colon, or a tab) when the label
/// is a known one.
fn split_label_line(line: &str) -> Option<(Field, &str)> {
    let sep = line.find([':', '：', '\t'])?;
    let field = field_for_label(&line[..sep])?;
    let sep_len = line[sep..].chars().next().map_or(1, char::len_utf8);
    Some((field, line[sep + sep_len..].trim()))
}

/// Reads every "label：value" line of `text`. A value continues on the
/// following lines until the next label, a blank line after some value, or
/// the start of quoted/forwarded history (whose own form is read on).
pub fn read_form(text: &str) -> RawForm {
    let lines: Vec<&str> = text.lines().take(MAX_LINES).collect();
    let mut form = RawForm::default();
    // Index into form.values of the field being continued.
    let mut open: Option<usize> = None;
    for (i, raw_line) in lines.iter().enumerate() {
        let line = raw_line.trim().trim_start_matches(['>', ' ']).trim();
        // A label seen before is text: inside a value ("客户：不接受" in a
        // description) it continues it; elsewhere (a quoted copy) it is ignored.
        if let Some((field, value)) = split_label_line(line)
            && !form.values.iter().any(|(f, _)| *f == field)
        {
            form.values.push((field, value.to_owned()));
            open = Some(form.values.len() - 1);
            continue;
        }
        let Some(index) = open else {
            continue;
        };
        let value = &mut form.values[index].1;
        if line.is_empty() {
            if !value.is_empty() {
                open = None;
            }
        } else if line == "--" || history_starts_at(&lines, i) {
            open = None;
        } else if value.chars().count() < MAX_VALUE_CHARS {
            if !value.is_empty() {
                value.push('\n');
            }
            value.push_str(line);
        }
    }
    for (_, value) in &mut form.values {
        if let Some((cut, _)) = value.char_indices().nth(MAX_VALUE_CHARS) {
            value.truncate(cut);
        }
    }
    form
}

/// A form read into fields, with what is wrong with it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FormReading {
    /// The fields, the station resolved to its code.
    pub fields: Fields,
    /// Station code the complaint goes to.
    pub routed_to: Option<String>,
    /// Missing or unreadable fields, unknown station.
    pub problems: Vec<String>,
}

/// Turns a raw form into fields. `sender_station` is the station that sent a
/// pre-report (it is the station when the form names none).
pub fn read_fields(
    form: &RawForm,
    pre_report: bool,
    sender_station: Option<&Station>,
    settings: &Settings,
) -> FormReading {
    let text = |field| form.get(field).map(str::to_owned);
    let mut problems = Vec::new();
    let mut fields = Fields {
        complaint_no: text(Field::ComplaintNo),
        category: text(Field::Category),
        customer_name: text(Field::CustomerName),
        phone: text(Field::Phone),
        service_order: text(Field::ServiceOrder),
        product: text(Field::Product),
        serial: text(Field::Serial),
        region: text(Field::Region),
        address: text(Field::Address),
        description: text(Field::Description),
        demand: text(Field::Demand),
        handler: text(Field::Handler),
        reporter: text(Field::Reporter),
        actions_taken: text(Field::ActionsTaken),
        expected_resolution: text(Field::ExpectedResolution),
        ..Fields::default()
    };

    match form.get(Field::Urgency) {
        Some(value) => match read_urgency(value) {
            Some(urgency) => fields.urgency = Some(urgency),
            None => problems.push(format!("unreadable field: urgency ({})", one_line(value))),
        },
        None if !pre_report => problems.push("missing required field: urgency".to_owned()),
        None => {}
    }
    if fields.description.is_none() {
        problems.push("missing required field: description".to_owned());
    }
    if fields.customer_name.is_none() && fields.phone.is_none() {
        problems.push("missing required field: customer_name or phone".to_owned());
    }

    let named_station = form.get(Field::Station).filter(|v| !NO_STATION.contains(&v.trim().to_lowercase().as_str()));
    let mut station_unknown = false;
    match named_station {
        Some(value) => match resolve_station(value, settings) {
            Some(station) => fields.station = Some(station.code.clone()),
            None => {
                station_unknown = true;
                problems.push(format!("unknown station: {}", one_line(value)));
            }
        },
        None if pre_report => fields.station = sender_station.map(|s| s.code.clone()),
        None => {}
    }

    if let Some(value) = form.get(Field::Major) {
        match read_yes_no(value) {
            Some(major) => fields.major = Some(major),
            None => problems.push(format!("unreadable field: major ({})", one_line(value))),
        }
    }

    // A named but unknown station is not re-routed by region: the sender
    // meant a particular station, and guessing another one is worse.
    let routed_to = match (&fields.station, station_unknown) {
        (Some(code), _) => Some(code.clone()),
        (None, true) => None,
        (None, false) => route_by_region(&fields, settings),
    };
    FormReading { fields, routed_to, problems }
}

/// The value on one line, shortened, for a problem message.
fn one_line(value: &str) -> String {
    let line = value.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Urgency words, also when followed by a remark ("Urgent - media").
fn read_urgency(value: &str) -> Option<Urgency> {
    let value = value.trim();
    Urgency::parse(value).or_else(|| {
        let first_word = value.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
        (!first_word.is_empty()).then(|| Urgency::parse(first_word)).flatten()
    })
}

/// 是/否, yes/no (and their usual variants), as a bool.
fn read_yes_no(value: &str) -> Option<bool> {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    let word = lower.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    if value.starts_with('是') || matches!(word, "yes" | "y" | "true") {
        Some(true)
    } else if value.starts_with('否') || value.starts_with("不是") || matches!(word, "no" | "n" | "false") {
        Some(false)
    } else {
        None
    }
}

/// The configured station a form's value names: by code (first token), by
/// full name, or by a part of the name ("海淀服务站").
pub fn resolve_station<'a>(value: &str, settings: &'a Settings) -> Option<&'a Station> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let first_token =
        value.split(|c: char| c.is_whitespace() || "，,、（()）/-".contains(c)).find(|t| !t.is_empty()).unwrap_or("");
    settings
        .station(first_token)
        .or_else(|| settings.stations.iter().find(|s| s.name == compact))
        .or_else(|| settings.stations.iter().find(|s| compact.contains(&s.name)))
        .or_else(|| {
            // Short fragments like "站" would match everything.
            (compact.chars().count() >= 3)
                .then(|| settings.stations.iter().find(|s| s.name.contains(&compact)))
                .flatten()
        })
}

/// The station the region field (else the address field) is in.
fn route_by_region(fields: &Fields, settings: &Settings) -> Option<String> {
    [&fields.region, &fields.address].into_iter().flatten().find_map(|place| station_for_place(place, settings, None))
}

/// The station serving `place` (not `except`): the city before the
/// province, i.e. the region named last in the place ("浙江省杭州市" is
/// Hangzhou's if a station serves 杭州, else Zhejiang's), the longer on a tie.
pub fn station_for_place(place: &str, settings: &Settings, except: Option<&str>) -> Option<String> {
    settings
        .stations
        .iter()
        .enumerate()
        .filter(|(_, s)| except.is_none_or(|e| !s.code.eq_ignore_ascii_case(e)))
        .filter_map(|(i, s)| {
            let found =
                s.regions.iter().filter(|r| !r.is_empty()).filter_map(|r| Some((place.rfind(r.as_str())?, r.len())));
            // On a tie the station listed first wins.
            Some((found.max()?, std::cmp::Reverse(i), s))
        })
        .max_by_key(|(at, first, _)| (*at, *first))
        .map(|(_, _, s)| s.code.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_after_normalizing() {
        assert_eq!(field_for_label(" 紧急程度 "), Some(Field::Urgency));
        assert_eq!(field_for_label("地　　址"), Some(Field::Address));
        assert_eq!(field_for_label("*客户姓名"), Some(Field::CustomerName));
        assert_eq!(field_for_label("【投诉内容】"), Some(Field::Description));
        assert_eq!(field_for_label("Complaint No."), Some(Field::ComplaintNo));
        assert_eq!(field_for_label("SERVICE ORDER"), Some(Field::ServiceOrder));
        assert_eq!(field_for_label("发件人"), None);
        assert_eq!(field_for_label("客户诉求"), Some(Field::Demand));
    }

    #[test]
    fn colons_full_and_half_width() {
        let form = read_form("紧急程度：加急\r\n客户姓名 : 马丽\r\nPhone:139\r\n服务站\tBJ01\r\n");
        assert_eq!(form.get(Field::Urgency), Some("加急"));
        assert_eq!(form.get(Field::CustomerName), Some("马丽"));
        assert_eq!(form.get(Field::Phone), Some("139"));
        assert_eq!(form.get(Field::Station), Some("BJ01"));
    }

    #[test]
    fn values_continue_until_next_label_or_blank_line() {
        let text = "投诉内容：报修后五天\n  无人联系，\n客户很生气。\n客户诉求：\n\n尽快上门\n\n-- \n刘嘉\n电话 010";
        let form = read_form(text);
        assert_eq!(form.get(Field::Description), Some("报修后五天\n无人联系，\n客户很生气。"));
        assert_eq!(form.get(Field::Demand), Some("尽快上门"));
        assert_eq!(form.get(Field::Phone), None);
    }

    #[test]
    fn continuation_stops_at_forwarded_history() {
        let text = "受理人：刘嘉\n-------- 原始邮件 --------\n发件人: x\n紧急程度：一般";
        let form = read_form(text);
        assert_eq!(form.get(Field::Handler), Some("刘嘉"));
        assert_eq!(form.get(Field::Urgency), Some("一般"));
    }

    #[test]
    fn first_occurrence_wins_and_quotes_are_read() {
        let form = read_form("> 紧急程度：紧急\n\n> 紧急程度：一般");
        assert_eq!(form.get(Field::Urgency), Some("紧急"));
        let form = read_form("客户：马丽\n投诉内容：师傅说明天来\n客户：不接受");
        assert_eq!(form.get(Field::Description), Some("师傅说明天来\n客户：不接受"));
    }

    #[test]
    fn signature_phone_alone_is_not_a_form() {
        assert!(!read_form("谢谢\n电话：010-1234\n地址：北京").is_form());
        assert!(read_form("投诉内容：坏了").is_form());
    }

    #[test]
    fn urgency_and_major_words() {
        assert_eq!(read_urgency("Urgent - media"), Some(Urgency::Urgent));
        assert_eq!(read_urgency("紧急（已找媒体）"), Some(Urgency::Urgent));
        assert_eq!(read_urgency("很急"), None);
        assert_eq!(read_yes_no("否"), Some(false));
        assert_eq!(read_yes_no("Yes"), Some(true));
        assert_eq!(read_yes_no("maybe"), None);
    }
}

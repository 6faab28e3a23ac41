//! The station directory as the desk keeps it: a CSV file (`stations_file`)
//! saved by Excel or WPS, in UTF-8 (with or without a BOM) or GBK. One row
//! per station under a header naming the columns (English or Chinese):
//!
//! `code, name, emails, province, city, regions, manager, backups,
//! working_days, working_hours, extra_holidays` (the last three optional: the
//! station's own calendar). A cell with several values separates them with
//! `;`, `,`, `、` or spaces. A station serves its cities when it names any,
//! else its province, plus any `regions` (routing takes the city before the
//! province). Problems are named by row and column as the spreadsheet shows
//! them (row 1 is the header).

use std::path::Path;

use crate::calendar::StationCalendarSettings;

use super::Station;

/// The columns of the directory, with the header words that name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Code,
    Name,
    Emails,
    Province,
    City,
    Regions,
    Manager,
    Backups,
    WorkingDays,
    WorkingHours,
    ExtraHolidays,
}

impl Column {
    const ALL: [Self; 11] = [
        Self::Code,
        Self::Name,
        Self::Emails,
        Self::Province,
        Self::City,
        Self::Regions,
        Self::Manager,
        Self::Backups,
        Self::WorkingDays,
        Self::WorkingHours,
        Self::ExtraHolidays,
    ];

    /// The header words that name the column (compared trimmed, case-insensitively).
    fn words(self) -> &'static [&'static str] {
        match self {
            Self::Code => &["code", "代码", "站点代码", "服务站代码"],
            Self::Name => &["name", "名称", "服务站", "服务站名称"],
            Self::Emails => &["emails", "email", "邮箱"],
            Self::Province => &["province", "省份", "省"],
            Self::City => &["city", "城市", "市"],
            Self::Regions => &["regions", "区域", "服务区域"],
            Self::Manager => &["manager", "区域经理", "经理"],
            Self::Backups => &["backups", "备用邮箱", "备用联系人"],
            Self::WorkingDays => &["working_days", "工作日"],
            Self::WorkingHours => &["working_hours", "工作时间"],
            Self::ExtraHolidays => &["extra_holidays", "休息日", "本地假日"],
        }
    }

    /// The field the column fills, as problems name it.
    pub fn field(self) -> &'static str {
        self.words()[0]
    }

    fn of_header(cell: &str) -> Option<Self> {
        let cell = cell.trim().to_lowercase();
        Self::ALL.into_iter().find(|c| c.words().contains(&cell.as_str()))
    }
}

/// The stations read from the file, where each came from, and what is wrong.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub stations: Vec<Station>,
    /// The file row of each station (1-based; row 1 is the header).
    pub rows: Vec<usize>,
    /// The index in `Settings::stations` of the first of them.
    pub first: usize,
    /// The 0-based column of each field present.
    columns: Vec<(Column, usize)>,
    /// (key, message) as `Settings::problems` reports them.
    pub problems: Vec<(String, String)>,
    /// The file as the config names it, for the keys.
    file: String,
}

impl Directory {
    /// The key of `column` in `row` (1-based): `stations.csv row 12, column C (emails)`.
    pub fn key(&self, row: usize, column: Column) -> String {
        match self.columns.iter().find(|(c, _)| *c == column) {
            Some((_, at)) => format!("{} row {row}, column {} ({})", self.file, column_letter(*at), column.field()),
            None => format!("{} row {row} ({})", self.file, column.field()),
        }
    }

    /// Reads `path` (named `shown` in problems). An unreadable file is one problem.
    pub fn read(path: &Path, shown: &str) -> Self {
        let mut dir = Self { file: shown.to_owned(), ..Self::default() };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                dir.problems.push(("stations_file".into(), format!("{}: cannot read: {e}", path.display())));
                return dir;
            }
        };
        match decode(&bytes) {
            Some(text) => dir.parse(&text),
            None => dir.problems.push(("stations_file".into(), format!("{shown}: neither UTF-8 nor GBK text"))),
        }
        dir
    }

    fn parse(&mut self, text: &str) {
        let mut records = records(text).into_iter();
        let Some((_, header)) = records.next() else {
            self.problems.push(("stations_file".into(), format!("{}: empty (no header row)", self.file)));
            return;
        };
        for (i, cell) in header.iter().enumerate() {
            match Column::of_header(cell) {
                Some(c) if self.columns.iter().any(|(d, _)| *d == c) => {
                    let key = format!("{} row 1, column {}", self.file, column_letter(i));
                    self.problems.push((key, format!("column {} appears twice", c.field())));
                }
                Some(c) => self.columns.push((c, i)),
                None if cell.trim().is_empty() => {}
                None => {
                    let key = format!("{} row 1, column {}", self.file, column_letter(i));
                    self.problems.push((key, format!("unknown column {:?}", cell.trim())));
                }
            }
        }
        for required in [Column::Code, Column::Name, Column::Emails, Column::Manager] {
            if !self.columns.iter().any(|(c, _)| *c == required) {
                self.problems.push((format!("{} row 1", self.file), format!("no {} column", required.field())));
            }
        }
        for (row, cells) in records {
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let cell = |c: Column| {
                self.columns.iter().find(|(d, _)| *d == c).and_then(|(_, at)| cells.get(*at)).map_or("", |s| s.trim())
            };
            let cities = list(cell(Column::City)).into_iter().map(|c| place(&c)).collect::<Vec<_>>();
            let mut regions = if cities.is_empty() {
                list(cell(Column::Province)).into_iter().map(|p| place(&p)).collect()
            } else {
                cities
            };
            regions.extend(list(cell(Column::Regions)));
            let calendar = StationCalendarSettings {
                working_days: Some(list(cell(Column::WorkingDays))).filter(|v| !v.is_empty()),
                working_hours: Some(list(cell(Column::WorkingHours))).filter(|v| !v.is_empty()),
                extra_holidays: list(cell(Column::ExtraHolidays)),
            };
            for (column, message) in calendar.problems() {
                let column = match column {
                    "working_days" => Column::WorkingDays,
                    "working_hours" => Column::WorkingHours,
                    _ => Column::ExtraHolidays,
                };
                self.problems.push((self.key(row, column), message));
            }
            let station = Station {
                code: cell(Column::Code).to_owned(),
                name: cell(Column::Name).to_owned(),
                emails: list(cell(Column::Emails)),
                regions,
                manager: cell(Column::Manager).to_owned(),
                calendar: Some(calendar).filter(|c| *c != StationCalendarSettings::default()),
                backups: list(cell(Column::Backups)),
            };
            self.stations.push(station);
            self.rows.push(row);
        }
    }
}

/// The text of the file: UTF-8 with a BOM, else whichever of UTF-8 and GBK
/// (GB 18030, which Excel and WPS write as "ANSI" on Chinese Windows) reads
/// as Chinese text (a short GBK cell may also be valid UTF-8: 某站 reads
/// "ĳվ"); `None` when neither reads.
fn decode(bytes: &[u8]) -> Option<String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest).ok().map(str::to_owned);
    }
    let utf8 = std::str::from_utf8(bytes).ok();
    if let Some(text) = utf8.filter(|t| looks_chinese(t)) {
        return Some(text.to_owned());
    }
    let (gbk, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    match (had_errors, utf8) {
        (false, Some(text)) if !looks_chinese(&gbk) => Some(text.to_owned()),
        (false, _) => Some(gbk.into_owned()),
        (true, text) => text.map(str::to_owned),
    }
}

/// Whether every character beyond ASCII is Chinese script or punctuation.
fn looks_chinese(text: &str) -> bool {
    text.chars().filter(|c| !c.is_ascii()).all(|c| {
        matches!(c, '\u{3000}'..='\u{303F}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}'
            | '\u{FF00}'..='\u{FFEF}' | '\u{2000}'..='\u{206F}' | '\u{00B7}')
    })
}

/// The CSV records of `text` (RFC 4180: quoted cells may hold separators,
/// doubled quotes and line breaks), each with its 1-based starting row.
fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let (mut out, mut record, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut row, mut start, mut quoted) = (1, 1, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if cell.is_empty() => quoted = true,
            (',', false) => record.push(std::mem::take(&mut cell)),
            ('\r', false) => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut cell));
                out.push((start, std::mem::take(&mut record)));
                row += 1;
                start = row;
            }
            ('\n', true) => {
                row += 1;
                cell.push(c);
            }
            _ => cell.push(c),
        }
    }
    if !cell.is_empty() || !record.is_empty() {
        record.push(cell);
        out.push((start, record));
    }
    out
}

/// The values of a cell with several (`a; b`, `a，b`, `a、b`, `a b`).
fn list(cell: &str) -> Vec<String> {
    cell.split([';', '；', ',', '，', '、', ' ', '\u{3000}', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A province or city as forms write it, without 省/市 (浙江省 → 浙江), so
/// "浙江杭州" and "浙江省杭州市" both find it.
fn place(name: &str) -> String {
    let short = ["省", "市"].iter().find_map(|s| name.strip_suffix(s)).filter(|s| s.chars().count() >= 2);
    short.unwrap_or(name).to_owned()
}

/// The spreadsheet's name of the 0-based column `i` (A, B, …, Z, AA, …).
fn column_letter(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Directory {
        let mut d = Directory { file: "stations.csv".into(), ..Directory::default() };
        d.parse(text);
        d
    }

    #[test]
    fn rows_cities_and_quoted_cells() {
        let d = parsed(
            "代码,名称,邮箱,省份,城市,区域经理,备用邮箱\r\nHZ01,杭州服务站,\"a@s.test; b@s.test\",浙江省,杭州市,m@hq.test,\r\n\
             ZJ01,\"浙江服务站\",z@s.test,浙江省,,m@hq.test,zb@s.test\r\n",
        );
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        assert_eq!(d.stations[0].emails, ["a@s.test", "b@s.test"]);
        assert_eq!(d.stations[0].regions, ["杭州"]);
        assert_eq!(d.stations[1].regions, ["浙江"]);
        assert_eq!(d.stations[1].backups, ["zb@s.test"]);
        assert_eq!(d.rows, [2, 3]);
    }

    #[test]
    fn gbk_is_read_and_problems_name_row_and_column() {
        let (gbk, _, _) =
            encoding_rs::GBK.encode("code,name,emails,manager,working_days\nX1,某站,x@s.test,m@hq.test,MON TUX\n");
        let text = decode(&gbk).expect("GBK reads");
        let d = parsed(&text);
        assert_eq!(d.stations[0].name, "某站");
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        assert_eq!(d.problems[0].0, "stations.csv row 2, column E (working_days)");
        assert_eq!(column_letter(26), "AA");
    }

    #[test]
    fn unknown_and_missing_columns_are_named() {
        let d = parsed("code,名称,phone\n");
        let keys: Vec<_> = d.problems.iter().map(|(k, m)| format!("{k}: {m}")).collect();
        assert!(keys.contains(&"stations.csv row 1, column C: unknown column \"phone\"".to_owned()), "{keys:?}");
        assert!(keys.iter().any(|k| k.ends_with("no emails column")), "{keys:?}");
    }
}

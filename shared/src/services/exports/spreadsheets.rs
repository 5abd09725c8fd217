//! Exports of survey responses to CSV or Excel: one row per response with its person's fields,
//! the properties recorded with it, additional answers, notes and tags, filtered like the list;
//! in Excel typed (numbers, dates as dates) with a frozen header and an NPS summary sheet.
//! Rows are written as they are read (Excel's sheet in constant-memory mode), so memory does not
//! grow with the number of rows. Text a spreadsheet would run as a formula is neutralised.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Workbook};

use crate::error::{Error, Result};
use crate::services::people::person::{self, Person};
use crate::services::results::counters::Measure;
use crate::services::results::metrics::Counts;
use crate::services::results::response_list;
use crate::services::results::response_list::ScopedFilter;
use crate::services::results::response_record::ResponseRecord;
use crate::services::surveys::{self, Survey};
use crate::store::TenantStore;

/// Property columns at most (further property names are left out of the columns).
pub const MAX_PROPERTY_COLUMNS: usize = 200;
/// Excel's limits: rows a sheet holds (with the header) and characters a cell holds.
const XLSX_MAX_ROWS: u32 = 1_048_576;
const XLSX_MAX_CHARS: usize = 32_767;
/// People kept decrypted while exporting (cleared when full).
const PERSON_CACHE: usize = 10_000;
const PAGE: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(text: &str) -> Result<Format> {
        match text {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            _ => Err(Error::invalid("format", "must be csv or xlsx")),
        }
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return
/// first) gets a leading apostrophe, shown as text (CSV injection, CVE-2019-16184).
pub fn neutralised(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// One cell of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// Unix seconds: a date-time in Excel, ISO 8601 (UTC) in CSV.
    Time(i64),
    Empty,
}

impl Cell {
    fn text(value: Option<&str>) -> Cell {
        value.map_or(Cell::Empty, |v| Cell::Text(v.to_owned()))
    }
}

/// A sheet being written, row after row.
enum Sheet {
    Csv(csv::Writer<std::io::BufWriter<std::fs::File>>),
    Xlsx {
        book: Box<Workbook>,
        row: u32,
        header: CellFormat,
        time: CellFormat,
    },
}

impl Sheet {
    fn create(format: Format, path: &Path) -> Result<Sheet> {
        match format {
            Format::Csv => {
                let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(Error::internal)?);
                // A byte-order mark so that Excel reads UTF-8.
                file.write_all("\u{feff}".as_bytes()).map_err(Error::internal)?;
                // Every text cell quoted: where a `;` separates cells (da, de, fr, nl), text such
                // as `x;=cmd|…` would otherwise split into a cell that starts a formula.
                let writer = csv::WriterBuilder::new()
                    .quote_style(csv::QuoteStyle::NonNumeric)
                    .from_writer(file);
                Ok(Sheet::Csv(writer))
            }
            Format::Xlsx => {
                let mut book = Box::new(Workbook::new());
                book.add_worksheet_with_constant_memory()
                    .map_err(Error::internal)?
                    .set_name("Responses")
                    .map_err(Error::internal)?;
                Ok(Sheet::Xlsx {
                    book,
                    row: 0,
                    header: CellFormat::new().set_bold(),
                    time: CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
                })
            }
        }
    }

    fn header(&mut self, names: &[String]) -> Result<()> {
        match self {
            Sheet::Csv(w) => w
                .write_record(names.iter().map(|n| neutralised(n).into_owned()))
                .map_err(Error::internal),
            Sheet::Xlsx { book, row, header, .. } => {
                let sheet = book.worksheet_from_index(0).map_err(Error::internal)?;
                for (col, name) in names.iter().enumerate() {
                    sheet
                        .write_string_with_format(0, col as u16, name, header)
                        .map_err(Error::internal)?;
                    sheet
                        .set_column_width(col as u16, if col < 4 { 20 } else { 16 })
                        .map_err(Error::internal)?;
                }
                sheet.set_freeze_panes(1, 0).map_err(Error::internal)?;
                *row = 1;
                Ok(())
            }
        }
    }

    fn row(&mut self, cells: &[Cell]) -> Result<()> {
        match self {
            Sheet::Csv(w) => {
                let fields = cells.iter().map(|c| match c {
                    Cell::Text(t) => neutralised(t).into_owned(),
                    Cell::Number(n) => n.to_string(),
                    Cell::Time(t) => jiff::Timestamp::from_second(*t)
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    Cell::Empty => String::new(),
                });
                w.write_record(fields).map_err(Error::internal)
            }
            Sheet::Xlsx { book, row, time, .. } => {
                if *row >= XLSX_MAX_ROWS {
                    return Err(Error::invalid(
                        "format",
                        "an Excel sheet holds 1,048,575 responses: export to csv, or narrow the filter",
                    ));
                }
                let sheet = book.worksheet_from_index(0).map_err(Error::internal)?;
                for (col, cell) in cells.iter().enumerate() {
                    let col = col as u16;
                    match cell {
                        // A string cell: never a formula, whatever it starts with; cut to what a
                        // cell holds.
                        Cell::Text(t) => {
                            let text = match t.char_indices().nth(XLSX_MAX_CHARS) {
                                Some((end, _)) => &t[..end],
                                None => t.as_str(),
                            };
                            sheet.write_string(*row, col, text).map(drop)
                        }
                        Cell::Number(n) => sheet.write_number(*row, col, *n).map(drop),
                        Cell::Time(t) => match ExcelDateTime::from_timestamp(*t) {
                            Ok(at) => sheet.write_datetime_with_format(*row, col, &at, time).map(drop),
                            Err(_) => Ok(()),
                        },
                        Cell::Empty => Ok(()),
                    }
                    .map_err(Error::internal)?;
                }
                *row += 1;
                Ok(())
            }
        }
    }

    /// Ends the file: flushes the CSV, or adds Excel's summary sheet and saves the workbook.
    fn finish(self, path: &Path, summary: &[(&str, Cell)]) -> Result<()> {
        match self {
            Sheet::Csv(mut w) => w.flush().map_err(Error::internal),
            Sheet::Xlsx { mut book, header, .. } => {
                let sheet = book.add_worksheet();
                sheet.set_name("NPS summary").map_err(Error::internal)?;
                sheet.set_column_width(0, 24).map_err(Error::internal)?;
                for (row, (name, value)) in summary.iter().enumerate() {
                    let row = row as u32;
                    sheet
                        .write_string_with_format(row, 0, *name, &header)
                        .map_err(Error::internal)?;
                    match value {
                        Cell::Number(n) => sheet.write_number(row, 1, *n).map(drop),
                        Cell::Text(t) => sheet.write_string(row, 1, t).map(drop),
                        _ => Ok(()),
                    }
                    .map_err(Error::internal)?;
                }
                book.save(path).map_err(Error::internal)
            }
        }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Default)]
pub struct ExportSummary {
    pub rows: u64,
    pub counts: Counts,
}

/// The responses a filter admits, a page at a time.
struct Pages<'a> {
    store: &'a TenantStore,
    filter: &'a ScopedFilter,
    cursor: Option<String>,
    done: bool,
}

impl<'a> Pages<'a> {
    fn new(store: &'a TenantStore, filter: &'a ScopedFilter) -> Pages<'a> {
        Pages {
            store,
            filter,
            cursor: None,
            done: false,
        }
    }

    async fn next(&mut self) -> Result<Option<Vec<ResponseRecord>>> {
        if self.done {
            return Ok(None);
        }
        let page = response_list::list(self.store, self.filter, PAGE, 0, self.cursor.as_deref()).await?;
        self.done = page.cursor.is_none();
        self.cursor = page.cursor;
        Ok(Some(page.responses))
    }
}

/// The columns of a person's contact details, shown to those who may see people.
const CONTACT_COLUMNS: [&str; 3] = ["Email", "Name", "Phone"];

/// Writes the responses `filter` admits to `path` as `format`, with their people's email, name
/// and phone when `contacts`, refusing more than `limit` rows before writing any; `progress`
/// hears the rows written.
pub async fn responses_to_file(
    store: &TenantStore,
    filter: &ScopedFilter,
    (format, contacts): (Format, bool),
    path: &Path,
    limit: Option<u64>,
    mut progress: impl FnMut(u64),
) -> Result<ExportSummary> {
    // The columns: properties seen in the responses (a first pass), the surveys' questions.
    let mut properties = BTreeSet::new();
    let mut matching = 0u64;
    let mut pages = Pages::new(store, filter);
    while let Some(page) = pages.next().await? {
        if limit.is_some_and(|l| matching > l) {
            break;
        }
        for r in page {
            matching += 1;
            for name in r.person_properties.0.keys() {
                if properties.len() < MAX_PROPERTY_COLUMNS {
                    properties.insert(name.clone());
                }
            }
        }
    }
    if let Some(limit) = limit.filter(|l| matching > *l) {
        return Err(Error::invalid(
            "query",
            format!(
                "more than {limit} responses match, and an export here takes at most {limit}: narrow \
                 since/until or survey_id, or run `ovation export`"
            ),
        ));
    }
    let mut surveys: Vec<Survey> = match &filter.survey {
        Some(id) => surveys::get(store, id).await?.into_iter().collect(),
        None => surveys::list(store, true).await?,
    };
    if let Some(within) = filter.within() {
        surveys.retain(|s| within.contains(&s.id));
    }
    let mut questions: Vec<String> = vec![];
    for q in surveys.iter().flat_map(|s| &s.definition.questions) {
        if !questions.contains(&q.id) {
            questions.push(q.id.clone());
        }
    }
    let mut names: Vec<String> = [
        "Response ID",
        "Survey ID",
        "Created at",
        "Updated at",
        "Score",
        "Category",
        "Comment",
        "Channel",
        "Language",
        "Person ID",
    ]
    .map(str::to_owned)
    .to_vec();
    if contacts {
        names.extend(CONTACT_COLUMNS.map(str::to_owned));
    }
    names.extend(properties.iter().map(|p| format!("Property: {p}")));
    names.extend(questions.iter().map(|q| format!("Question: {q}")));
    names.extend(["Notes".to_owned(), "Tags".to_owned()]);

    let mut sheet = Sheet::create(format, path)?;
    sheet.header(&names)?;
    let by_id: HashMap<&str, &Survey> = surveys.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut people_seen: HashMap<String, Option<Person>> = HashMap::new();
    let mut summary = ExportSummary::default();
    let mut pages = Pages::new(store, filter);
    while let Some(page) = pages.next().await? {
        for r in page {
            if let Some(id) = r.person.as_ref().filter(|_| contacts)
                && !people_seen.contains_key(id)
            {
                if people_seen.len() >= PERSON_CACHE {
                    people_seen.clear();
                }
                people_seen.insert(id.clone(), person::load(store, id).await?);
            }
            let person = r
                .person
                .as_ref()
                .and_then(|id| people_seen.get(id))
                .and_then(Option::as_ref);
            let cells = row(
                &r,
                contacts.then_some(person),
                by_id.get(r.survey.as_str()).copied(),
                &properties,
                &questions,
            );
            sheet.row(&cells)?;
            summary.rows += 1;
            summary.counts.add(Measure::of_score(r.score), 1);
            if summary.rows.is_multiple_of(1000) {
                progress(summary.rows);
            }
        }
    }
    progress(summary.rows);
    let view = summary.counts.view();
    let pairs = [
        (
            "NPS",
            view.nps
                .map_or(Cell::Text("no responses".into()), |n| Cell::Number(n as f64)),
        ),
        ("Responses", Cell::Number(view.response_count as f64)),
        ("Promoters", Cell::Number(view.promoter_count as f64)),
        ("Promoters %", Cell::Number(view.promoter_percent)),
        ("Passives", Cell::Number(view.passive_count as f64)),
        ("Passives %", Cell::Number(view.passive_percent)),
        ("Detractors", Cell::Number(view.detractor_count as f64)),
        ("Detractors %", Cell::Number(view.detractor_percent)),
    ];
    sheet.finish(path, &pairs)?;
    Ok(summary)
}

/// A response's row in the columns' order; `person` (found or not) when the contact columns are
/// there.
fn row(
    r: &ResponseRecord,
    person: Option<Option<&Person>>,
    survey: Option<&Survey>,
    properties: &BTreeSet<String>,
    questions: &[String],
) -> Vec<Cell> {
    let category = match Measure::of_score(r.score) {
        Measure::Promoter => "promoter",
        Measure::Passive => "passive",
        _ => "detractor",
    };
    let mut cells = vec![
        Cell::Text(r.id.clone()),
        Cell::Text(r.survey.clone()),
        Cell::Time(r.created_at),
        Cell::Time(r.updated_at),
        Cell::Number(f64::from(r.score.value())),
        Cell::Text(category.into()),
        Cell::text(r.comment.as_deref()),
        Cell::Text(r.channel.as_str().into()),
        Cell::Text(r.language.code().into()),
        Cell::text(r.person.as_deref()),
    ];
    if let Some(person) = person {
        cells.extend([
            Cell::text(person.and_then(|p| p.email.as_ref()).map(|e| e.as_str())),
            Cell::text(person.and_then(|p| p.name.as_deref())),
            Cell::text(person.and_then(|p| p.phone.as_ref()).map(|p| p.as_str())),
        ]);
    }
    cells.extend(
        properties
            .iter()
            .map(|p| Cell::text(r.person_properties.0.get(p).map(String::as_str))),
    );
    let answers = r.view("", survey, None).additional_answers;
    for id in questions {
        let value = answers.iter().find(|a| a.id == *id).map(|a| &a.value);
        cells.push(match value {
            None => Cell::Empty,
            Some(v) => answer_cell(v),
        });
    }
    let notes: Vec<String> = r.notes.iter().map(|n| n.text.clone()).collect();
    cells.push(Cell::Text(notes.join("\n")));
    cells.push(Cell::Text(r.tags.join(", ")));
    cells
}

/// An additional answer as Delighted shows it, as one cell.
fn answer_cell(value: &serde_json::Value) -> Cell {
    if let Some(n) = value.get("scale").and_then(|v| v.as_f64()) {
        return Cell::Number(n);
    }
    if let Some(t) = value.get("free_response").and_then(|v| v.as_str()) {
        return Cell::Text(t.to_owned());
    }
    if let Some(t) = value.pointer("/select_one/text").and_then(|v| v.as_str()) {
        return Cell::Text(t.to_owned());
    }
    if let Some(list) = value.get("select_many").and_then(|v| v.as_array()) {
        let texts: Vec<&str> = list.iter().filter_map(|c| c["text"].as_str()).collect();
        return Cell::Text(texts.join("; "));
    }
    Cell::Empty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised() {
        for text in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(text), format!("'{text}"));
        }
        assert_eq!(neutralised("Great"), "Great");
        assert_eq!(neutralised(""), "");
    }

    #[test]
    fn answers_become_cells() {
        use serde_json::json;
        assert_eq!(answer_cell(&json!({"scale": 4})), Cell::Number(4.0));
        assert_eq!(answer_cell(&json!({"free_response": "ok"})), Cell::Text("ok".into()));
        assert_eq!(
            answer_cell(&json!({"select_many": [{"text": "A"}, {"text": "B"}]})),
            Cell::Text("A; B".into())
        );
    }
}

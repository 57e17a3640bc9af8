//! Malformed and tricky uploads with the exact outcome each must have, shared by the engine's
//! tests (`scoring/tests/refusals.rs`) and the scoring-program / server tests, which run the
//! same uploads through `tailboard score` and the upload form (a refused case must write no
//! score file and store nothing).
//!
//! Everything is generated in memory from [`task`] (CXR-LT 2024 Task 2, 26 labels) and a
//! synthetic reference of [`REFERENCE_ROWS`] images ([`reference_csv`]). Each [`Case`] is one
//! upload, named by [`Case::file_name`] (`.csv` or `.zip`); [`Expect::Refused`] holds the
//! exact one-line message [`crate::submission::validate_upload`] returns with
//! [`crate::submission::Limits::default`]. Accepted cases yield the same predictions as
//! [`good_csv`]. Zips are real zip files built with the `zip` crate; a few have header bytes
//! patched afterwards (a lying size, an encryption flag) because no honest writer makes them.
//!
//! Not part of the engine's API: it only exists so that every layer tests the same inputs.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::reference::Reference;
use crate::task::Task;

/// Number of images in the synthetic reference.
pub const REFERENCE_ROWS: usize = 1100;

/// What must happen to a case's upload.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Refused with exactly this one-line message.
    Refused(String),
    /// Accepted, with exactly these warnings; the predictions equal those of [`good_csv`].
    Accepted(Vec<String>),
}

/// One upload and its expected outcome.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short unique name (snake case) of the rule the case exercises.
    pub name: &'static str,
    /// File name a participant would upload (`submission.csv` or `submission.zip`).
    pub file_name: &'static str,
    /// The uploaded bytes.
    pub upload: Vec<u8>,
    /// The expected outcome.
    pub expect: Expect,
}

/// The task of every case: CXR-LT 2024 Task 2.
pub fn task() -> Task {
    Task::builtin(2).expect("task 2 is built in")
}

/// MIMIC-CXR style id of synthetic image `i` (five groups of 8 hex digits).
pub fn image_id(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut groups = Vec::with_capacity(5);
    for _ in 0..5 {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        groups.push(format!("{:08x}", (x >> 32) as u32));
    }
    groups.join("-")
}

/// The reference labels (`labels.csv`) of the cases: every label has positives and negatives.
pub fn reference_csv() -> Vec<u8> {
    let task = task();
    let mut out = format!("dicom_id,study_id,{}\n", task.labels.join(","));
    for i in 0..REFERENCE_ROWS {
        out.push_str(&image_id(i));
        out.push_str(&format!(",{}", 50_000_000 + i / 2));
        for j in 0..task.labels.len() {
            out.push_str(if (i * 7 + j * 3) % 11 == 0 {
                ",1"
            } else {
                ",0"
            });
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// The parsed reference of the cases.
pub fn reference() -> Reference {
    Reference::parse(&reference_csv(), Some(task())).expect("the synthetic reference is valid")
}

/// The probability synthetic submission rows carry for image `i`, label `j`.
pub fn probability(i: usize, j: usize) -> f64 {
    ((i * 37 + j * 101) % 1000) as f64 / 999.0
}

/// A valid submission, as a table of cells (header first) that cases then break.
fn good_table() -> Vec<Vec<String>> {
    let task = task();
    let mut rows = vec![std::iter::once("dicom_id".to_string())
        .chain(task.labels.iter().cloned())
        .collect::<Vec<_>>()];
    for i in 0..REFERENCE_ROWS {
        let mut row = vec![image_id(i)];
        row.extend((0..task.labels.len()).map(|j| probability(i, j).to_string()));
        rows.push(row);
    }
    rows
}

fn to_csv(table: &[Vec<String>], sep: &str, eol: &str) -> Vec<u8> {
    let mut out = String::new();
    for row in table {
        out.push_str(&row.join(sep));
        out.push_str(eol);
    }
    out.into_bytes()
}

/// A valid submission CSV for the synthetic reference.
pub fn good_csv() -> Vec<u8> {
    to_csv(&good_table(), ",", "\n")
}

/// A real zip holding `entries` (names ending in `/` are folders), deflate-compressed.
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(entries, CompressionMethod::Deflated, 1)
}

/// [`zip_of`] with a chosen compression method and level (9 packs a bomb tightest; debug
/// builds of the compressor are slow, so the other cases use level 1 or no compression).
fn zip_with(entries: &[(&str, &[u8])], method: CompressionMethod, level: i64) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let level = (method == CompressionMethod::Deflated).then_some(level);
    let opts = SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .large_file(false);
    for (name, data) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, opts).expect("zip folder");
        } else {
            w.start_file(*name, opts).expect("zip entry");
            w.write_all(data).expect("zip write");
        }
    }
    w.finish().expect("zip finish").into_inner()
}

/// A zip of one highly compressible CSV of `bytes` bytes.
fn bomb_zip(bytes: usize) -> Vec<u8> {
    zip_with(
        &[("preds.csv", &zeros_csv(bytes))],
        CompressionMethod::Deflated,
        9,
    )
}

/// Offsets of the local and central headers of every entry (signature scan; fine for the
/// small, honest zips made here).
fn headers(zip: &[u8]) -> (Vec<usize>, Vec<usize>) {
    let find = |sig: &[u8]| memchr::memmem::find_iter(zip, sig).collect::<Vec<_>>();
    (find(b"PK\x03\x04"), find(b"PK\x01\x02"))
}

/// Sets the uncompressed size the headers of every entry declare.
fn declare_size(mut zip: Vec<u8>, size: u32) -> Vec<u8> {
    let (local, central) = headers(&zip);
    for at in local
        .iter()
        .map(|o| o + 22)
        .chain(central.iter().map(|o| o + 24))
    {
        zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }
    zip
}

/// Sets the "encrypted" flag of every entry.
fn mark_encrypted(mut zip: Vec<u8>) -> Vec<u8> {
    let (local, central) = headers(&zip);
    for at in local
        .iter()
        .map(|o| o + 6)
        .chain(central.iter().map(|o| o + 8))
    {
        zip[at] |= 1;
    }
    zip
}

/// Renames every entry called `from` to `to` (same length) in the headers.
fn rename(zip: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = zip;
    while let Some(at) = memchr::memmem::find(&out, from.as_bytes()) {
        out[at..at + to.len()].copy_from_slice(to.as_bytes());
    }
    out
}

/// Sets the compression method every entry declares.
fn declare_method(mut zip: Vec<u8>, method: u16) -> Vec<u8> {
    let (local, central) = headers(&zip);
    for at in local
        .iter()
        .map(|o| o + 8)
        .chain(central.iter().map(|o| o + 10))
    {
        zip[at..at + 2].copy_from_slice(&method.to_le_bytes());
    }
    zip
}

/// A zip whose only entry is a symbolic link named `name`.
fn symlink_zip(name: &str, target: &str) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.add_symlink(name, target, SimpleFileOptions::default())
        .expect("zip symlink");
    w.finish().expect("zip finish").into_inner()
}

fn refused(name: &'static str, file_name: &'static str, upload: Vec<u8>, msg: &str) -> Case {
    Case {
        name,
        file_name,
        upload,
        expect: Expect::Refused(msg.to_string()),
    }
}

fn csv_refused(name: &'static str, upload: Vec<u8>, msg: &str) -> Case {
    refused(name, "submission.csv", upload, msg)
}

fn zip_refused(name: &'static str, upload: Vec<u8>, msg: &str) -> Case {
    refused(name, "submission.zip", upload, msg)
}

fn accepted(
    name: &'static str,
    file_name: &'static str,
    upload: Vec<u8>,
    warnings: &[&str],
) -> Case {
    Case {
        name,
        file_name,
        upload,
        expect: Expect::Accepted(warnings.iter().map(|w| w.to_string()).collect()),
    }
}

/// The good table with cell (`row`, `col`) replaced (row 0 is the header).
fn with_cell(row: usize, col: usize, value: &str) -> Vec<u8> {
    let mut t = good_table();
    t[row][col] = value.to_string();
    to_csv(&t, ",", "\n")
}

/// Every case, refusals first.
pub fn cases() -> Vec<Case> {
    let good = good_csv();
    let table = good_table();
    let task = task();
    let edema = 1 + task.label_index("Edema").expect("Edema is a Task 2 label");
    let mut cases = vec![
        // The zip container.
        zip_refused(
            "zip_slip",
            zip_of(&[("../x.csv", &good)]),
            "zip entry \"../x.csv\" has \"..\" in its path; such entries are refused",
        ),
        zip_refused(
            "zip_slip_backslash",
            zip_of(&[("sub\\..\\..\\x.csv", &good)]),
            "zip entry \"sub\\\\..\\\\..\\\\x.csv\" has \"..\" in its path; such entries are refused",
        ),
        zip_refused(
            "zip_absolute_path",
            zip_of(&[("/tmp/x.csv", &good)]),
            "zip entry \"/tmp/x.csv\" has an absolute path; such entries are refused",
        ),
        zip_refused(
            "zip_drive_letter",
            zip_of(&[("C:/x.csv", &good)]),
            "zip entry \"C:/x.csv\" has an absolute path (a drive letter); such entries are refused",
        ),
        zip_refused(
            "zip_symlink",
            symlink_zip("preds.csv", "/etc/passwd"),
            "zip entry \"preds.csv\" is a symbolic link; links are refused",
        ),
        zip_refused(
            "zip_bomb_ratio",
            bomb_zip(1_000_000),
            "the CSV in the zip expands more than 200:1; refused as a possible zip bomb",
        ),
        zip_refused(
            "zip_bomb_declared_size",
            declare_size(zip_of(&[("preds.csv", &good)]), 3_000_000_000),
            "the CSV in the zip is more than 1000000000 bytes uncompressed, over the limit",
        ),
        zip_refused(
            "zip_bomb_lying_header",
            {
                let zip = bomb_zip(1_000_000);
                let compressed = (zip.len() / 2) as u32;
                declare_size(zip, compressed)
            },
            "the CSV in the zip cannot be decompressed (File is larger than its declared uncompressed size); make the zip again",
        ),
        zip_refused(
            "zip_too_many_entries",
            {
                let names: Vec<String> = (0..1001).map(|i| format!("code/f{i}.py")).collect();
                let entries: Vec<(&str, &[u8])> =
                    names.iter().map(|n| (n.as_str(), &b"pass\n"[..])).collect();
                zip_with(&entries, CompressionMethod::Stored, 0)
            },
            "the zip holds 1001 entries, more than the limit of 1000",
        ),
        zip_refused(
            "zip_two_csvs",
            zip_of(&[("a.csv", &good), ("sub/b.CSV", &good)]),
            "the zip holds 2 CSV files (\"a.csv\", \"sub/b.CSV\"); keep exactly one",
        ),
        zip_refused(
            "zip_no_csv",
            zip_of(&[("preds.txt", &good), ("README.md", b"hello")]),
            "the zip holds no .csv file (found \"preds.txt\", \"README.md\"); put the predictions in a .csv file",
        ),
        zip_refused(
            "zip_csv_too_deep",
            zip_of(&[("a/b/preds.csv", &good)]),
            "the only CSV in the zip, \"a/b/preds.csv\", is more than one folder deep; put it at the root of the zip or inside one folder",
        ),
        zip_refused(
            "zip_nested_zip",
            zip_of(&[("inner.zip", &zip_of(&[("preds.csv", &good)]))]),
            "the zip holds another zip (\"inner.zip\") but no CSV; zip the CSV itself (zips inside zips are not opened)",
        ),
        zip_refused(
            "zip_encrypted",
            mark_encrypted(zip_of(&[("preds.csv", &good)])),
            "zip entry \"preds.csv\" is password-protected; upload a zip without a password",
        ),
        zip_refused(
            "zip_duplicate_names",
            rename(
                zip_with(&[("a.csv", &good), ("b.csv", b"x")], CompressionMethod::Stored, 0),
                "b.csv",
                "a.csv",
            ),
            "the zip holds two entries with the same name; such zips are refused",
        ),
        zip_refused(
            "zip_unsupported_compression",
            declare_method(zip_of(&[("preds.csv", &good)]), 12),
            "the CSV in the zip is compressed with Bzip2, which is not supported; use the standard (deflate) compression",
        ),
        zip_refused(
            "zip_garbage",
            b"PK\x03\x04this is not really a zip file".to_vec(),
            "the zip file cannot be read (invalid Zip archive: Could not find EOCD); make it again with a standard zip tool",
        ),
        csv_refused(
            "gzip_upload",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec(),
            "the upload is a gzip file, not a CSV; upload a .csv file or a .zip holding one",
        ),
        csv_refused(
            "utf16_upload",
            [b"\xFF\xFE".as_slice(), b"d\x00i\x00"].concat(),
            "the upload is UTF-16 text (save it as UTF-8), not a CSV; upload a .csv file or a .zip holding one",
        ),
        zip_refused(
            "excel_workbook",
            zip_of(&[
                ("[Content_Types].xml", b"<Types/>"),
                ("xl/workbook.xml", b"<workbook/>"),
            ]),
            "the upload is an Excel/Office document, not a CSV; save it as CSV (comma-separated)",
        ),
        csv_refused(
            "binary_upload",
            b"\x00\x01\x02binary".to_vec(),
            "the upload is a binary file (it holds NUL bytes), not a CSV; upload a .csv file or a .zip holding one",
        ),
        // The header.
        csv_refused("empty_file", Vec::new(), "the file is empty"),
        csv_refused(
            "header_only",
            to_csv(&table[..1], ",", "\n"),
            "the file has a header but no data rows",
        ),
        csv_refused(
            "semicolon_separated",
            to_csv(&table, ";", "\n"),
            "the file is separated by \";\" (semicolons); use commas",
        ),
        csv_refused(
            "tab_separated",
            to_csv(&table, "\t", "\n"),
            "the file is separated by \"\\t\" (tabs); use commas",
        ),
        csv_refused(
            "duplicated_column",
            {
                let mut t = good_table();
                t[0][2] = t[0][1].clone();
                to_csv(&t, ",", "\n")
            },
            "column \"Atelectasis\" appears twice in the header (columns 2 and 3)",
        ),
        csv_refused(
            "missing_label",
            {
                let t: Vec<Vec<String>> = good_table()
                    .into_iter()
                    .map(|mut r| {
                        r.remove(edema);
                        r
                    })
                    .collect();
                to_csv(&t, ",", "\n")
            },
            "1 label column of CXR-LT 2024 Task 2 is missing: \"Edema\"",
        ),
        csv_refused(
            "unknown_column",
            with_cell(0, edema, "Oedema"),
            "unknown column \"Oedema\" (column 6); expected \"dicom_id\" and the 26 labels of CXR-LT 2024 Task 2",
        ),
        csv_refused(
            "wrong_case_column",
            with_cell(0, edema, "edema"),
            "unknown column \"edema\" (column 6); expected \"dicom_id\" and the 26 labels of CXR-LT 2024 Task 2; did you mean \"Edema\"? (names are exact, case matters)",
        ),
        csv_refused(
            "unnamed_index_column",
            {
                let t: Vec<Vec<String>> = good_table()
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut r)| {
                        r.insert(0, if i == 0 { String::new() } else { i.to_string() });
                        r
                    })
                    .collect();
                to_csv(&t, ",", "\n")
            },
            "column 1 of the header has no name (an index column? with pandas use to_csv(index=False))",
        ),
        csv_refused(
            "trailing_comma_header",
            {
                let mut t = good_table();
                t[0].push(String::new());
                for row in &mut t[1..] {
                    row.push(String::new());
                }
                to_csv(&t, ",", "\n")
            },
            "column 28 of the header has no name (a comma at the end of the header?)",
        ),
        csv_refused(
            "file_for_another_task",
            {
                let labels = crate::task::TASK3_LABELS;
                let mut out = format!("dicom_id,{}\n", labels.join(","));
                for i in 0..REFERENCE_ROWS {
                    out.push_str(&format!("{}{}\n", image_id(i), ",0.5".repeat(labels.len())));
                }
                out.into_bytes()
            },
            "26 label columns of CXR-LT 2024 Task 2 are missing: \"Atelectasis\", \"Calcification of the Aorta\", \"Cardiomegaly\", ...; the columns are those of CXR-LT 2024 Task 3",
        ),
        csv_refused(
            "no_dicom_id_column",
            {
                let t: Vec<Vec<String>> = good_table()
                    .into_iter()
                    .map(|mut r| {
                        r.remove(0);
                        r
                    })
                    .collect();
                to_csv(&t, ",", "\n")
            },
            "the header has no \"dicom_id\" column",
        ),
        // The rows.
        csv_refused(
            "not_utf8",
            with_cell(5, 3, "0.5\u{FFFD}").replace_bytes("0.5\u{FFFD}", b"0.5\xff"),
            "row 6, column \"Cardiomegaly\": the text is not valid UTF-8; save the file as UTF-8",
        ),
        csv_refused(
            "ragged_row",
            {
                let mut t = good_table();
                t[10].pop();
                to_csv(&t, ",", "\n")
            },
            "row 11 has 26 fields but the header has 27",
        ),
        csv_refused(
            "nan_value",
            with_cell(3, 1, "NaN"),
            "row 4, column \"Atelectasis\": value \"NaN\" is not a number (NaN); use a probability in [0, 1]",
        ),
        csv_refused(
            "inf_value",
            with_cell(7, 2, "inf"),
            "row 8, column \"Calcification of the Aorta\": value \"inf\" is infinite; use a probability in [0, 1]",
        ),
        csv_refused(
            "empty_cell",
            with_cell(9, edema, ""),
            "row 10, column \"Edema\": the cell is empty; every cell needs a probability in [0, 1]",
        ),
        csv_refused(
            "text_value",
            with_cell(2, 4, "high"),
            "row 3, column \"Consolidation\": value \"high\" is not a number; use a probability in [0, 1]",
        ),
        csv_refused(
            "negative_value",
            with_cell(2, 4, "-0.1"),
            "row 3, column \"Consolidation\": value \"-0.1\" is outside [0, 1]",
        ),
        csv_refused(
            "value_above_one",
            with_cell(1042, edema, "1.2"),
            "row 1043, column \"Edema\": value \"1.2\" is outside [0, 1]",
        ),
        csv_refused(
            "long_control_value",
            with_cell(2, 4, &format!("0.5\t{}", "x".repeat(100))),
            &format!(
                "row 3, column \"Consolidation\": value \"0.5\\t{}\"... is not a number; use a probability in [0, 1]",
                "x".repeat(56)
            ),
        ),
        csv_refused(
            "overlong_row",
            with_cell(7, 3, &"0".repeat(1 << 20)),
            "row 8 is longer than 1048576 bytes; a row holds one image's id and probabilities",
        ),
        csv_refused(
            "empty_id",
            with_cell(4, 0, ""),
            "row 5, column \"dicom_id\": the cell is empty; every row needs its dicom_id",
        ),
        // The ids.
        csv_refused(
            "missing_ids",
            to_csv(&table[..table.len() - 3], ",", "\n"),
            &format!(
                "3 ids of the reference are missing, e.g. \"{}\", \"{}\", \"{}\"",
                image_id(REFERENCE_ROWS - 3),
                image_id(REFERENCE_ROWS - 2),
                image_id(REFERENCE_ROWS - 1)
            ),
        ),
        csv_refused(
            "unknown_id",
            {
                let mut t = good_table();
                t.push(t[1].clone());
                t.last_mut().expect("a row")[0] = "not-an-id".into();
                to_csv(&t, ",", "\n")
            },
            "1 id is not in the reference, e.g. \"not-an-id\" (row 1102)",
        ),
        csv_refused(
            "upper_case_ids",
            {
                let mut t = good_table();
                for row in &mut t[1..] {
                    row[0] = row[0].to_uppercase();
                }
                to_csv(&t, ",", "\n")
            },
            &format!(
                "{REFERENCE_ROWS} ids are not in the reference, e.g. {} (row 2), {} (row 3), {} (row 4) (ids are case-sensitive: the reference has \"{}\"); {REFERENCE_ROWS} ids of the reference are missing, e.g. \"{}\", \"{}\", \"{}\"",
                format_args!("\"{}\"", image_id(0).to_uppercase()),
                format_args!("\"{}\"", image_id(1).to_uppercase()),
                format_args!("\"{}\"", image_id(2).to_uppercase()),
                image_id(0),
                image_id(0),
                image_id(1),
                image_id(2),
            ),
        ),
        csv_refused(
            "duplicated_id",
            {
                let mut t = good_table();
                t.push(t[5].clone());
                to_csv(&t, ",", "\n")
            },
            &format!(
                "1 id appears more than once, e.g. \"{}\" (rows 6 and 1102)",
                image_id(4)
            ),
        ),
    ];
    cases.extend(accepted_cases(&good, &table));
    cases
}

/// Uploads that must be accepted, each a valid submission in an unusual but allowed form.
fn accepted_cases(good: &[u8], table: &[Vec<String>]) -> Vec<Case> {
    let shuffled = {
        // Columns reversed (dicom_id last) and rows in reverse order.
        let mut t: Vec<Vec<String>> = table
            .iter()
            .map(|r| r.iter().rev().cloned().collect())
            .collect();
        t[1..].reverse();
        to_csv(&t, ",", "\n")
    };
    let quoted_header = {
        let mut t = table.to_vec();
        t[0] = t[0].iter().map(|n| format!(" \"{n}\" ")).collect();
        to_csv(&t, ",", "\n")
    };
    let quoted_values = {
        let t: Vec<Vec<String>> = table
            .iter()
            .map(|r| r.iter().map(|c| format!("\"{c}\"")).collect())
            .collect();
        to_csv(&t, ",", "\r\n")
    };
    let bom_crlf = [b"\xEF\xBB\xBF".as_slice(), &to_csv(table, ",", "\r\n")].concat();
    let with_extra = {
        let t: Vec<Vec<String>> = table
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r = r.clone();
                if i == 0 {
                    r.extend(["Bulla", "path", "study_id", "Azygos Lobe"].map(String::from));
                } else {
                    r.extend(["0.5", "files/p10/x.jpg", "123", "0.1"].map(String::from));
                }
                r
            })
            .collect();
        to_csv(&t, ",", "\n")
    };
    vec![
        accepted("plain_csv", "submission.csv", good.to_vec(), &[]),
        accepted("bom_and_crlf", "submission.csv", bom_crlf, &[]),
        accepted(
            "quoted_header_with_spaces",
            "submission.csv",
            quoted_header,
            &[],
        ),
        accepted("quoted_values", "submission.csv", quoted_values, &[]),
        accepted("shuffled_columns_and_rows", "submission.csv", shuffled, &[]),
        accepted(
            "other_task_labels_and_id_columns",
            "submission.csv",
            with_extra,
            &["ignored 2 columns of other CXR-LT tasks: \"Bulla\", \"Azygos Lobe\""],
        ),
        accepted(
            "zip_root_csv",
            "submission.zip",
            zip_of(&[("predictions.csv", good)]),
            &[],
        ),
        accepted(
            "zip_folder_with_code",
            "submission.zip",
            zip_of(&[
                ("team/", b""),
                ("team/predictions.CSV", good),
                ("code/", b""),
                ("code/train.py", b"print('hi')\n"),
                ("code/model.zip", b"not opened"),
                ("__MACOSX/team/._predictions.CSV", b"\x00\x05\x16\x07"),
                ("metadata", b"description: test\n"),
            ]),
            &[],
        ),
        accepted(
            "zip_backslash_folder",
            "submission.zip",
            zip_of(&[("team\\predictions.csv", good)]),
            &[],
        ),
    ]
}

/// A huge, highly compressible CSV: the good header then rows of zeros.
fn zeros_csv(bytes: usize) -> Vec<u8> {
    let task = task();
    let mut out = format!("dicom_id,{}\n", task.labels.join(",")).into_bytes();
    let row = format!("x{}\n", ",0".repeat(task.labels.len()));
    while out.len() < bytes {
        out.extend_from_slice(row.as_bytes());
    }
    out
}

/// Byte replacement on generated files (to plant bytes no `String` can hold).
trait ReplaceBytes {
    fn replace_bytes(self, from: &str, to: &[u8]) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace_bytes(self, from: &str, to: &[u8]) -> Vec<u8> {
        let from = from.as_bytes();
        match memchr::memmem::find(&self, from) {
            Some(at) => [&self[..at], to, &self[at + from.len()..]].concat(),
            None => self,
        }
    }
}

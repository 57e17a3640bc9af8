//! The fast path of [`Reference::parse`] for the labels file everybody writes: no quotes, no
//! bare carriage returns, every label cell exactly `0` or `1`, ids without surrounding spaces.
//!
//! The general path splits every row into `&str` fields and checks each cell through a
//! callback; for 79,000 rows x 41 one-byte cells that bookkeeping costs far more than the
//! data. Here the body is cut into chunks at newlines and the final vectors (ids, their
//! hashes, one column per label) into one share per chunk, sized by the chunk's line count,
//! so the chunks are read in parallel straight into place and nothing is joined afterwards.
//! A chunk is walked once: a text cell up to its comma eight bytes per step, label cells as
//! the two bytes `d,` four cells per step, staged eight rows at a time and then written to
//! their columns eight cells per write. Each id is hashed while it is in cache, so the
//! serial step left, [`IdIndex::build_hashed`], only places the hashes.
//!
//! It either builds the whole reference or gives up, and then [`Reference::parse`] runs the
//! general path from scratch. Anything unusual gives up (a quote, `0.0`, a space, an empty
//! cell, a wrong field count, non-UTF-8 text, a long line, a repeated id, no defined label),
//! so every accepted file gives exactly what the general path gives, and every refused one
//! gets its message, row and column from the one place that writes them.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{id_hash, IdIndex, Layout, Reference, Role};
use crate::table::{self, MAX_LINE_BYTES};

/// Parses the body of a labels file, or `None` when the general path must decide.
pub(super) fn parse(layout: &Layout<'_>) -> Option<Reference> {
    let Layout {
        body,
        roles,
        task,
        clustered,
        ..
    } = layout;
    let chunks = table::split_chunks(body);
    // Every row of a chunk gets a place in the final vectors up front (one per line, blank
    // lines included), so rows are written where they belong and never copied again.
    let lines: Vec<usize> = chunks.par_iter().map(|c| line_count(c)).collect();
    let total_lines: usize = lines.iter().sum();
    let mut labels: Vec<Vec<u8>> = task.labels.iter().map(|_| vec![0; total_lines]).collect();
    let mut ids: Vec<String> = std::iter::repeat_with(String::new)
        .take(total_lines)
        .collect();
    let mut hashes = vec![0u64; total_lines];
    let outputs = split_outputs(&lines, &mut labels, &mut ids, &mut hashes);
    let plan = Plan::new(roles);
    let parsed = chunks
        .par_iter()
        .zip(outputs)
        .map(|(chunk, out)| parse_chunk(chunk, &plan, out))
        .collect::<Option<Vec<Parsed>>>()?;
    if parsed.iter().zip(&lines).any(|(p, &n)| p.rows < n) {
        close_gaps(&parsed, &lines, &mut labels, &mut ids, &mut hashes);
    }
    if ids.is_empty() {
        return None;
    }
    let (index, repeated) = IdIndex::build_hashed(&ids, &hashes);
    let defined = labels
        .iter()
        .any(|col| col.contains(&0) && col.contains(&1));
    if !repeated.is_empty() || !defined {
        return None;
    }
    let clusters = clustered.then(|| number_clusters(&parsed));
    Some(Reference {
        task: task.clone(),
        ids,
        labels,
        clusters,
        index,
    })
}

/// Lines in a chunk, a last one without its newline included: at least its number of rows.
fn line_count(chunk: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', chunk).count() + usize::from(chunk.last() != Some(&b'\n'))
}

/// Where one chunk writes its rows: its share of each final vector.
struct Output<'o> {
    /// Per label, one byte per line: in task order, then in slot order (see [`Plan`]) once
    /// the chunk is read.
    labels: Vec<&'o mut [u8]>,
    ids: &'o mut [String],
    /// `id_hash` of each id, computed with the chunk rather than in the serial index build.
    hashes: &'o mut [u64],
}

/// Cuts the final vectors into consecutive shares of `lines[c]` rows, one per chunk.
fn split_outputs<'o>(
    lines: &[usize],
    labels: &'o mut [Vec<u8>],
    mut ids: &'o mut [String],
    mut hashes: &'o mut [u64],
) -> Vec<Output<'o>> {
    let mut labels: Vec<&'o mut [u8]> = labels.iter_mut().map(|v| v.as_mut_slice()).collect();
    let mut outputs = Vec::with_capacity(lines.len());
    for &n in lines {
        let mut share = Output {
            labels: Vec::with_capacity(labels.len()),
            ids: &mut [],
            hashes: &mut [],
        };
        for column in &mut labels {
            let (head, tail) = std::mem::take(column).split_at_mut(n);
            share.labels.push(head);
            *column = tail;
        }
        (share.ids, ids) = std::mem::take(&mut ids).split_at_mut(n);
        (share.hashes, hashes) = std::mem::take(&mut hashes).split_at_mut(n);
        outputs.push(share);
    }
    outputs
}

/// Moves the rows of every chunk next to those of the chunk before, over the places left by
/// blank lines, and drops the unused places at the end.
fn close_gaps(
    parsed: &[Parsed<'_>],
    lines: &[usize],
    labels: &mut [Vec<u8>],
    ids: &mut Vec<String>,
    hashes: &mut Vec<u64>,
) {
    fn close<T>(v: &mut Vec<T>, parsed: &[Parsed<'_>], lines: &[usize]) {
        let (mut to, mut from) = (0, 0);
        for (p, &n) in parsed.iter().zip(lines) {
            v[to..from + p.rows].rotate_left(from - to);
            to += p.rows;
            from += n;
        }
        v.truncate(to);
    }
    for column in labels {
        close(column, parsed, lines);
    }
    close(ids, parsed, lines);
    close(hashes, parsed, lines);
}

/// Cluster numbers in order of first appearance, as the general path gives them.
fn number_clusters(parsed: &[Parsed<'_>]) -> Vec<u32> {
    let mut number: HashMap<&str, u32> = HashMap::new();
    parsed
        .iter()
        .flat_map(|c| &c.clusters)
        .map(|k| {
            let next = number.len() as u32;
            *number.entry(k).or_insert(next)
        })
        .collect()
}

/// What a chunk found besides what it wrote to its [`Output`].
struct Parsed<'a> {
    /// Rows read (fewer than the chunk's lines when some are blank).
    rows: usize,
    /// Cluster key per row, when the task resamples by cluster.
    clusters: Vec<&'a str>,
}

/// Eight bytes holding four label cells `d,` with the low bit of each digit cleared.
const FOUR_CELLS: u64 = u64::from_le_bytes(*b"0,0,0,0,");
/// The bits of four cells that must match [`FOUR_CELLS`] (all but the digits' low bits).
const FOUR_CELLS_MASK: u64 = !u64::from_le_bytes([1, 0, 1, 0, 1, 0, 1, 0]);

/// How to read a row, worked out once from the column roles. Label cells are numbered by
/// their order among the label columns (their slot), see [`ChunkReader::stage`].
struct Plan {
    /// All cells but the last, each followed by its comma.
    steps: Vec<Step>,
    /// The last cell, followed by the line end.
    last: Last,
    /// The label (task order) of each slot.
    label_of: Vec<usize>,
}

/// Cells followed by a comma.
#[derive(Clone, Copy)]
enum Step {
    /// `count` label cells `d,` of slots `slot..slot + count`.
    Labels { slot: usize, count: usize },
    /// A text cell: an id, a cluster key or an ignored column.
    Text(Role),
}

/// The last cell of a row.
#[derive(Clone, Copy)]
enum Last {
    /// A label cell of this slot.
    Label(usize),
    /// A text cell.
    Text(Role),
}

impl Plan {
    fn new(roles: &[Role]) -> Plan {
        let (&last, init) = roles.split_last().expect("a task has labels");
        let mut plan = Plan {
            steps: Vec::new(),
            last: Last::Text(last),
            label_of: Vec::new(),
        };
        for &role in init {
            let Role::Label(k) = role else {
                plan.steps.push(Step::Text(role));
                continue;
            };
            match plan.steps.last_mut() {
                Some(Step::Labels { count, .. }) => *count += 1,
                _ => plan.steps.push(Step::Labels {
                    slot: plan.label_of.len(),
                    count: 1,
                }),
            }
            plan.label_of.push(k);
        }
        if let Role::Label(k) = last {
            plan.last = Last::Label(plan.label_of.len());
            plan.label_of.push(k);
        }
        plan
    }
}

/// Rows staged before their label cells are written out, a block at a time.
const BLOCK: usize = 8;

/// The rows of one chunk as they are being read.
struct ChunkReader<'a, 'o> {
    chunk: &'a [u8],
    plan: &'a Plan,
    /// Rows read so far.
    rows: usize,
    out: Output<'o>,
    /// The label cells of the last rows, [`BLOCK`] per slot, written out to the label
    /// columns a block at a time: one write of eight cells rather than eight writes each
    /// finding its column.
    stage: Vec<u8>,
    clusters: Vec<&'a str>,
}

impl ChunkReader<'_, '_> {
    /// Reads the row starting at `pos` up to its line end; returns where the next line starts.
    #[inline(always)]
    fn row(&mut self, mut pos: usize) -> Option<usize> {
        let (chunk, plan) = (self.chunk, self.plan);
        for &step in &plan.steps {
            match step {
                Step::Labels { slot, count } => pos = self.labels(pos, slot, count)?,
                Step::Text(role) => {
                    pos = self.text(role, pos)?;
                    if chunk.get(pos) != Some(&b',') {
                        return None;
                    }
                    pos += 1;
                }
            }
        }
        match plan.last {
            Last::Label(slot) => {
                self.stage[slot * BLOCK + self.rows % BLOCK] = match chunk.get(pos) {
                    Some(b'0') => 0,
                    Some(b'1') => 1,
                    _ => return None,
                };
                pos += 1;
            }
            Last::Text(role) => pos = self.text(role, pos)?,
        }
        table::next_line(chunk, pos)
    }

    /// Reads the `count` label cells `d,` at `pos` of slots `slot..slot + count`.
    #[inline(always)]
    fn labels(&mut self, mut pos: usize, slot: usize, count: usize) -> Option<usize> {
        let chunk = self.chunk;
        let row = self.rows % BLOCK;
        let mut fours = self.stage[slot * BLOCK..][..count * BLOCK].chunks_exact_mut(4 * BLOCK);
        for four in &mut fours {
            let eight = chunk.get(pos..pos + 8)?;
            let word = u64::from_le_bytes(eight.try_into().ok()?);
            if word & FOUR_CELLS_MASK != FOUR_CELLS {
                return None;
            }
            // The digits' low bits, at bytes 0, 2, 4 and 6 (`row < BLOCK`: no bounds checks).
            four[row] = word as u8 & 1;
            four[BLOCK + row] = (word >> 16) as u8 & 1;
            four[2 * BLOCK + row] = (word >> 32) as u8 & 1;
            four[3 * BLOCK + row] = (word >> 48) as u8 & 1;
            pos += 8;
        }
        for cells in fours.into_remainder().chunks_exact_mut(BLOCK) {
            cells[row] = match chunk.get(pos..pos + 2)? {
                [b'0', b','] => 0,
                [b'1', b','] => 1,
                _ => return None,
            };
            pos += 2;
        }
        Some(pos)
    }

    /// Reads the text cell at `pos`; returns where it ends.
    #[inline(always)]
    fn text(&mut self, role: Role, pos: usize) -> Option<usize> {
        let (end, ascii) = table::cell_end(self.chunk, pos);
        let bytes = &self.chunk[pos..end];
        let text = if ascii {
            // SAFETY: every byte is below 0x80 (checked by `cell_end`), and ASCII text is
            // valid UTF-8. (Validating again would cost as much as the rest of reading an id.)
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).ok()?
        };
        match role {
            Role::Id => {
                let id = key(text)?;
                self.out.hashes[self.rows] = id_hash(id);
                self.out.ids[self.rows] = id.to_string();
            }
            Role::Cluster => self.clusters.push(key(text)?),
            _ => {}
        }
        Some(end)
    }

    /// Counts a row read, writing out the staged block when it is full.
    fn end_row(&mut self) {
        self.rows += 1;
        if self.rows.is_multiple_of(BLOCK) {
            self.write_block(BLOCK);
        }
    }

    /// Writes the first `n` staged rows (those before `self.rows`) to the label columns.
    fn write_block(&mut self, n: usize) {
        let first = self.rows - n;
        let staged = self.stage.chunks_exact(BLOCK);
        for (column, cells) in self.out.labels.iter_mut().zip(staged) {
            column[first..first + n].copy_from_slice(&cells[..n]);
        }
    }
}

/// Parses whole lines (the last one may lack its newline) into `out`, or `None` at anything
/// unusual.
fn parse_chunk<'a>(chunk: &'a [u8], plan: &'a Plan, mut out: Output<'_>) -> Option<Parsed<'a>> {
    let capacity = out.ids.len();
    let mut by_label = std::mem::take(&mut out.labels);
    out.labels = (plan.label_of.iter())
        .map(|&k| std::mem::take(&mut by_label[k]))
        .collect();
    let mut reader = ChunkReader {
        chunk,
        plan,
        rows: 0,
        out,
        stage: vec![0; BLOCK * plan.label_of.len()],
        clusters: Vec::new(),
    };
    let mut pos = 0;
    while pos < chunk.len() {
        // Blank lines hold no row (the general path skips them too).
        if let Some(next) = table::next_line(chunk, pos) {
            pos = next;
            continue;
        }
        if reader.rows == capacity {
            return None;
        }
        let line_start = pos;
        pos = reader.row(pos)?;
        // Checked on the whole line: a little stricter than the general path, never looser.
        if pos - line_start > MAX_LINE_BYTES {
            return None;
        }
        reader.end_row();
    }
    reader.write_block(reader.rows % BLOCK);
    Some(Parsed {
        rows: reader.rows,
        clusters: reader.clusters,
    })
}

/// An id or cluster key as the general path would keep it: not empty, nothing to trim.
fn key(text: &str) -> Option<&str> {
    (!text.is_empty() && table::trim(text).len() == text.len()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Result, ScoringError};
    use crate::task::Task;
    use crate::testcases::image_id;

    /// A labels file of `rows` rows over the columns `columns` (`dicom_id`, `study_id`,
    /// `subject_id`, `path` or a label of `task`), lines ending in `eol`.
    fn labels_csv(task: &Task, columns: &[&str], rows: usize, eol: &str) -> String {
        let mut csv = columns.join(",") + eol;
        for i in 0..rows {
            let cells: Vec<String> = columns
                .iter()
                .map(|&c| match c {
                    "dicom_id" => image_id(i),
                    "study_id" => format!("5{:07}", i / 3),
                    "subject_id" => format!("1{:07}", i / 7),
                    "path" => format!("files/p1{}/s5{}/é{i}.jpg", i % 10, i / 3),
                    label => {
                        let k = task.label_index(label).expect("a label");
                        let positive = (i * 7 + k * 3).is_multiple_of(11) || i == k;
                        String::from(if positive { "1" } else { "0" })
                    }
                })
                .collect();
            csv += &cells.join(",");
            csv += eol;
        }
        csv
    }

    /// Both paths on `csv`: the fast one (`None` when it gave up) and the general one.
    fn both(csv: &[u8], task: Option<Task>) -> (Option<Reference>, Result<Reference>) {
        let layout = Layout::read(csv, task).expect("a good header");
        (parse(&layout), layout.parse_rows())
    }

    /// Asserts that two references are the same in everything a user of one can see.
    fn assert_same(fast: &Reference, general: &Reference) {
        assert_eq!(fast.task, general.task);
        assert_eq!(fast.ids, general.ids);
        assert_eq!(fast.labels, general.labels);
        assert_eq!(fast.clusters, general.clusters);
        for (row, id) in general.ids.iter().enumerate() {
            assert_eq!(fast.row_of(id), Some(row as u32), "{id}");
        }
        for absent in ["", "x", "0000000-0000", &format!("{}0", general.ids[0])] {
            assert_eq!(fast.row_of(absent), None, "{absent}");
        }
    }

    fn custom_task(resample: &str) -> Task {
        Task::from_toml_str(&format!(
            "name = \"Custom\"\nlabels = [\"B\", \"A\", \"C\", \"D\", \"E\", \"F\"]\nresample = \"{resample}\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn the_fast_path_reads_usual_files_exactly_like_the_general_path() {
        let t1 = Task::builtin(1).unwrap();
        let t2 = Task::builtin(2).unwrap();
        let t3 = Task::builtin(3).unwrap();
        fn with<'a>(first: &[&'a str], t: &'a Task) -> Vec<&'a str> {
            first
                .iter()
                .copied()
                .chain(t.labels.iter().map(String::as_str))
                .collect()
        }
        let mut shuffled = with(&["dicom_id"], &t1);
        shuffled.reverse();
        shuffled.swap(3, 17);
        let by_study = custom_task("study_id");
        let by_subject = custom_task("subject_id");
        let cases: Vec<(Task, Vec<&str>, usize)> = vec![
            // Over 256 KiB (the smallest chunk) the body is read in several chunks.
            (t1.clone(), with(&["dicom_id"], &t1), 9_000),
            (t1.clone(), shuffled, 3_000),
            (
                t1.clone(),
                with(&["path", "study_id", "subject_id", "dicom_id"], &t1),
                2_000,
            ),
            (t2.clone(), with(&["dicom_id"], &t2), 5_000),
            (t3.clone(), with(&["dicom_id"], &t3), 2),
            (
                t3.clone(),
                vec![
                    "Bulla",
                    "Cardiomyopathy",
                    "dicom_id",
                    "Hilum",
                    "Osteopenia",
                    "Scoliosis",
                ],
                8_000,
            ),
            (
                by_study.clone(),
                vec!["dicom_id", "study_id", "B", "A", "C", "D", "E", "F"],
                5_000,
            ),
            (
                by_subject.clone(),
                vec![
                    "A",
                    "B",
                    "C",
                    "subject_id",
                    "D",
                    "E",
                    "F",
                    "dicom_id",
                    "path",
                ],
                3_000,
            ),
        ];
        let big = labels_csv(&t1, &with(&["dicom_id"], &t1), 9_000, "\n");
        assert!(
            table::split_chunks(big.as_bytes()).len() > 2,
            "several chunks"
        );
        for (task, columns, rows) in cases {
            for eol in ["\n", "\r\n"] {
                let csv = labels_csv(&task, &columns, rows, eol);
                let bom = format!("\u{feff}{csv}");
                let unterminated = csv.strip_suffix(eol).unwrap();
                let blank_lines = csv.replacen(eol, &format!("{eol}{eol}"), 3) + eol + eol;
                for text in [&csv, &bom, unterminated, &blank_lines] {
                    let what = format!("{} {columns:?} {rows} rows {eol:?}", task.name);
                    let (fast, general) = both(text.as_bytes(), Some(task.clone()));
                    let fast = fast.unwrap_or_else(|| panic!("fast path gave up: {what}"));
                    assert_same(&fast, &general.unwrap());
                    assert_eq!(fast.len(), rows, "{what}");
                }
            }
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_general_path_with_its_message() {
        let task = Task::builtin(3).unwrap();
        let header = "dicom_id,Bulla,Cardiomyopathy,Hilum,Osteopenia,Scoliosis\n";
        let good = labels_csv(
            &task,
            &header.trim().split(',').collect::<Vec<_>>(),
            6_000,
            "\n",
        );
        let body = good.strip_prefix(header).unwrap();
        // Each change lands in a late chunk too, where the row number must still be right.
        let late = body.len() * 3 / 4;
        let late = late + body[late..].find('\n').unwrap() + 1;
        let lines: [(&str, &[u8]); 16] = [
            ("quoted id", b"\"q1\",1,0,0,0,1\n"),
            ("float label", b"f1,1.0,0,0,0,1\n"),
            ("spaced label", b"s1,1, 0,0,0,1\n"),
            ("spaced id", b" s2,1,0,0,0,1\n"),
            ("tab after id", b"s3\t,1,0,0,0,1\n"),
            ("empty label", b"e1,1,,0,0,1\n"),
            ("empty id", b",1,0,0,0,1\n"),
            ("bad label", b"b1,1,0,2,0,1\n"),
            ("long label", b"b2,1,0,10,0,1\n"),
            ("too many fields", b"m1,1,0,0,0,1,0\n"),
            ("too few fields", b"m2,1,0,0,0\n"),
            ("trailing comma", b"m3,1,0,0,0,1,\n"),
            ("not UTF-8 id", b"u\xff1,1,0,0,0,1\n"),
            ("bare carriage return", b"c1,1,0,0,0,1\rc2,0,0,0,0,1\n"),
            ("carriage return in id", b"c\r3,1,0,0,0,1\n"),
            ("spaces only", b"   \n"),
        ];
        let repeated = format!("{},1,0,0,0,1\n", image_id(7));
        let long = format!("{},1,0,0,0,1\n", "x".repeat(MAX_LINE_BYTES));
        let changes = lines.into_iter().chain([
            ("repeated id", repeated.as_bytes()),
            ("long line", long.as_bytes()),
        ]);
        for (name, line) in changes {
            for at in [0, late, body.len()] {
                let mut csv = header.as_bytes().to_vec();
                csv.extend_from_slice(&body.as_bytes()[..at]);
                csv.extend_from_slice(line);
                csv.extend_from_slice(&body.as_bytes()[at..]);
                let (fast, general) = both(&csv, None);
                assert!(fast.is_none(), "{name} at {at}: the fast path accepted it");
                match (Reference::parse(&csv, None), general) {
                    (Ok(r), Ok(g)) => assert_same(&r, &g),
                    (Err(ScoringError::Reference(e)), Err(ScoringError::Reference(g))) => {
                        assert_eq!(e, g, "{name} at {at}")
                    }
                    (r, g) => panic!("{name} at {at}: {:?} vs {:?}", r.err(), g.err()),
                }
            }
        }
        // Whole-file conditions: no rows, or no label with both values.
        let header_only = both(header.as_bytes(), None);
        assert!(header_only.0.is_none());
        let all_ones = format!("{header}a,1,1,1,1,1\nb,1,1,1,1,1\n");
        assert!(both(all_ones.as_bytes(), None).0.is_none());
        assert!(Reference::parse(all_ones.as_bytes(), None).is_err());
    }
}

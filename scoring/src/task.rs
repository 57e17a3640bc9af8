//! Task definitions: the label set, training counts (for head/medium/tail groups) and the
//! critical findings of a task.
//!
//! The three CXR-LT 2024 tasks are built in ([`Task::builtin`]); any other task is read from a
//! `task.toml` placed beside the reference labels ([`Task::from_toml_str`]).

use serde::Deserialize;

use crate::error::ScoringError;

/// The 40 labels of CXR-LT 2024 Task 1, in the challenge's order.
pub const TASK1_LABELS: [&str; 40] = [
    "Adenopathy",
    "Atelectasis",
    "Azygos Lobe",
    "Calcification of the Aorta",
    "Cardiomegaly",
    "Clavicle Fracture",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Enlarged Cardiomediastinum",
    "Fibrosis",
    "Fissure",
    "Fracture",
    "Granuloma",
    "Hernia",
    "Hydropneumothorax",
    "Infarction",
    "Infiltration",
    "Kyphosis",
    "Lobar Atelectasis",
    "Lung Lesion",
    "Lung Opacity",
    "Mass",
    "Nodule",
    "Normal",
    "Pleural Effusion",
    "Pleural Other",
    "Pleural Thickening",
    "Pneumomediastinum",
    "Pneumonia",
    "Pneumoperitoneum",
    "Pneumothorax",
    "Pulmonary Embolism",
    "Pulmonary Hypertension",
    "Rib Fracture",
    "Round(ed) Atelectasis",
    "Subcutaneous Emphysema",
    "Support Devices",
    "Tortuous Aorta",
    "Tuberculosis",
];

/// Approximate training-set counts (of 248,137 images) of the Task 1 labels, same order.
pub const TASK1_TRAIN_COUNTS: [u64; 40] = [
    3137, 63471, 191, 4161, 71794, 158, 14822, 36137, 3462, 28673, 1075, 2672, 11193, 2794, 3756,
    633, 710, 9431, 686, 126, 2202, 74659, 4978, 7140, 32885, 64252, 580, 3124, 694, 43744, 505,
    13562, 1565, 864, 8704, 153, 2019, 83899, 3078, 1929,
];

/// Number of training images the counts above refer to.
pub const TRAIN_IMAGES: u64 = 248_137;

/// The 26 labels of Task 2 (the manually annotated gold-standard set), in the challenge's order.
pub const TASK2_LABELS: [&str; 26] = [
    "Atelectasis",
    "Calcification of the Aorta",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Enlarged Cardiomediastinum",
    "Fibrosis",
    "Fracture",
    "Hernia",
    "Infiltration",
    "Lung Lesion",
    "Lung Opacity",
    "Mass",
    "Normal",
    "Nodule",
    "Pleural Effusion",
    "Pleural Other",
    "Pleural Thickening",
    "Pneumomediastinum",
    "Pneumonia",
    "Pneumoperitoneum",
    "Pneumothorax",
    "Subcutaneous Emphysema",
    "Support Devices",
    "Tortuous Aorta",
];

/// The 5 zero-shot labels of Task 3.
pub const TASK3_LABELS: [&str; 5] = [
    "Bulla",
    "Cardiomyopathy",
    "Hilum",
    "Osteopenia",
    "Scoliosis",
];

/// Critical findings of Task 1; other tasks keep the ones in their own label set.
pub const CRITICAL_FINDINGS: [&str; 8] = [
    "Pneumothorax",
    "Hydropneumothorax",
    "Pneumoperitoneum",
    "Pneumomediastinum",
    "Pulmonary Embolism",
    "Rib Fracture",
    "Clavicle Fracture",
    "Tuberculosis",
];

/// Prevalence group of a label, from its share of the training images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// More than 10 % of training images.
    Head,
    /// 1 % to 10 % of training images.
    Medium,
    /// Fewer than 1 % of training images.
    Tail,
}

impl Group {
    /// All groups, in report order.
    pub const ALL: [Group; 3] = [Group::Head, Group::Medium, Group::Tail];

    /// The group of a label seen `count` times in `total` training images
    /// (head > 10 %, medium 1-10 % inclusive, tail < 1 %).
    pub fn from_count(count: u64, total: u64) -> Group {
        // Integer comparisons avoid any rounding at the 1 % and 10 % boundaries.
        if count * 10 > total {
            Group::Head
        } else if count * 100 >= total {
            Group::Medium
        } else {
            Group::Tail
        }
    }

    /// Lower-case name used in reports (`head`, `medium`, `tail`).
    pub fn name(self) -> &'static str {
        match self {
            Group::Head => "head",
            Group::Medium => "medium",
            Group::Tail => "tail",
        }
    }
}

/// How the bootstrap resamples the test set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResampleUnit {
    /// Each image is a unit (default).
    #[default]
    Image,
    /// Resample whole studies (reference column `study_id`).
    StudyId,
    /// Resample whole patients (reference column `subject_id`).
    SubjectId,
}

impl ResampleUnit {
    /// The reference column holding the cluster key, if any.
    pub fn column(&self) -> Option<&'static str> {
        match self {
            ResampleUnit::Image => None,
            ResampleUnit::StudyId => Some("study_id"),
            ResampleUnit::SubjectId => Some("subject_id"),
        }
    }
}

/// A task: its name, labels and what the reports need to know about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Human-readable name, e.g. `CXR-LT 2024 Task 1`.
    pub name: String,
    /// Label names in canonical order; every per-class array in the crate uses this order.
    pub labels: Vec<String>,
    /// Prevalence group per label; `None` everywhere when the task has no training counts.
    pub groups: Vec<Option<Group>>,
    /// Training counts per label, when known.
    pub train_counts: Option<Vec<u64>>,
    /// Labels whose false-negative rate is reported (subset of `labels`).
    pub critical: Vec<String>,
    /// Bootstrap resampling unit chosen by the organizer.
    pub resample: ResampleUnit,
    /// Labels of the other built-in tasks: tolerated in a submission with a warning.
    pub tolerated_extra: Vec<String>,
}

/// The `task.toml` file format for custom tasks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskToml {
    name: String,
    labels: Vec<String>,
    #[serde(default)]
    train_counts: Option<Vec<u64>>,
    #[serde(default)]
    train_images: Option<u64>,
    #[serde(default)]
    critical: Vec<String>,
    #[serde(default)]
    resample: ResampleUnit,
}

impl Task {
    /// The built-in CXR-LT 2024 task `n` (1, 2 or 3).
    pub fn builtin(n: u8) -> Option<Task> {
        let (labels, counts): (Vec<&str>, Option<Vec<u64>>) = match n {
            1 => (TASK1_LABELS.to_vec(), Some(TASK1_TRAIN_COUNTS.to_vec())),
            2 => {
                let counts = TASK2_LABELS
                    .iter()
                    .map(|l| task1_count(l).expect("Task 2 labels are Task 1 labels"))
                    .collect();
                (TASK2_LABELS.to_vec(), Some(counts))
            }
            3 => (TASK3_LABELS.to_vec(), None),
            _ => return None,
        };
        let labels: Vec<String> = labels.into_iter().map(String::from).collect();
        let critical = CRITICAL_FINDINGS
            .iter()
            .filter(|c| labels.iter().any(|l| l == *c))
            .map(|c| c.to_string())
            .collect();
        let all_cxr_lt = TASK1_LABELS.iter().chain(TASK3_LABELS.iter());
        let tolerated_extra = all_cxr_lt
            .filter(|l| !labels.iter().any(|x| x == *l))
            .map(|l| l.to_string())
            .collect();
        let groups = groups_for(counts.as_deref(), labels.len(), TRAIN_IMAGES);
        Some(Task {
            name: format!("CXR-LT 2024 Task {n}"),
            labels,
            groups,
            train_counts: counts,
            critical,
            resample: ResampleUnit::Image,
            tolerated_extra,
        })
    }

    /// The built-in task whose label set equals `columns` (any order), if there is one.
    pub fn detect(columns: &[String]) -> Option<Task> {
        let mut wanted: Vec<&str> = columns.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        (1..=3).filter_map(Task::builtin).find(|t| {
            let mut have: Vec<&str> = t.labels.iter().map(String::as_str).collect();
            have.sort_unstable();
            have == wanted
        })
    }

    /// Parses a custom task from the text of a `task.toml` file.
    ///
    /// ```toml
    /// name = "My task"
    /// labels = ["A", "B"]
    /// train_counts = [120, 3]      # optional: enables head/medium/tail groups
    /// train_images = 1000          # optional: defaults to the sum of train_counts
    /// critical = ["B"]             # optional
    /// resample = "subject_id"      # optional: image (default), study_id or subject_id
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Task, ScoringError> {
        let parsed: TaskToml =
            toml::from_str(text).map_err(|e| ScoringError::Task(one_line(&e.to_string())))?;
        if parsed.labels.is_empty() {
            return Err(ScoringError::Task("task.toml lists no labels".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for l in &parsed.labels {
            if l.trim().is_empty() || l == "dicom_id" {
                return Err(ScoringError::Task(format!(
                    "task.toml: label \"{l}\" is not a valid label name"
                )));
            }
            if !seen.insert(l.as_str()) {
                return Err(ScoringError::Task(format!(
                    "task.toml: label \"{l}\" is listed twice"
                )));
            }
        }
        if let Some(c) = &parsed.train_counts {
            if c.len() != parsed.labels.len() {
                return Err(ScoringError::Task(format!(
                    "task.toml: {} train_counts for {} labels",
                    c.len(),
                    parsed.labels.len()
                )));
            }
        }
        for c in &parsed.critical {
            if !parsed.labels.contains(c) {
                return Err(ScoringError::Task(format!(
                    "task.toml: critical finding \"{c}\" is not one of the labels"
                )));
            }
        }
        let total = parsed
            .train_images
            .or_else(|| parsed.train_counts.as_ref().map(|c| c.iter().sum()))
            .unwrap_or(0);
        let groups = if total == 0 {
            vec![None; parsed.labels.len()]
        } else {
            groups_for(parsed.train_counts.as_deref(), parsed.labels.len(), total)
        };
        Ok(Task {
            name: parsed.name,
            groups,
            train_counts: parsed.train_counts,
            critical: parsed.critical,
            resample: parsed.resample,
            tolerated_extra: Vec::new(),
            labels: parsed.labels,
        })
    }

    /// True when the task has head/medium/tail groups.
    pub fn has_groups(&self) -> bool {
        self.groups.iter().any(Option::is_some)
    }

    /// Index of `label` in [`Task::labels`].
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }
}

fn task1_count(label: &str) -> Option<u64> {
    TASK1_LABELS
        .iter()
        .position(|l| *l == label)
        .map(|i| TASK1_TRAIN_COUNTS[i])
}

fn groups_for(counts: Option<&[u64]>, n: usize, total: u64) -> Vec<Option<Group>> {
    match counts {
        Some(c) => c
            .iter()
            .map(|&c| Some(Group::from_count(c, total)))
            .collect(),
        None => vec![None; n],
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(task: &Task, g: Group) -> usize {
        task.groups.iter().filter(|x| **x == Some(g)).count()
    }

    #[test]
    fn task1_groups_follow_the_prevalence_rule_9_15_16() {
        let t = Task::builtin(1).unwrap();
        assert_eq!(t.labels.len(), 40);
        assert_eq!(count(&t, Group::Head), 9);
        assert_eq!(count(&t, Group::Medium), 15);
        assert_eq!(count(&t, Group::Tail), 16);
        assert_eq!(t.critical.len(), 8);
    }

    #[test]
    fn task2_is_a_subset_with_its_own_critical_findings() {
        let t = Task::builtin(2).unwrap();
        assert_eq!(t.labels.len(), 26);
        assert!(t.labels.iter().all(|l| TASK1_LABELS.contains(&l.as_str())));
        assert_eq!(
            t.critical,
            ["Pneumothorax", "Pneumoperitoneum", "Pneumomediastinum"]
        );
        assert!(t.tolerated_extra.contains(&"Azygos Lobe".to_string()));
        assert!(t.tolerated_extra.contains(&"Bulla".to_string()));
    }

    #[test]
    fn task3_has_no_groups_and_no_critical_findings() {
        let t = Task::builtin(3).unwrap();
        assert_eq!(t.labels, TASK3_LABELS);
        assert!(!t.has_groups());
        assert!(t.critical.is_empty());
        assert_eq!(t.tolerated_extra.len(), 40);
    }

    #[test]
    fn detect_matches_label_sets_in_any_order() {
        let mut cols: Vec<String> = TASK3_LABELS.iter().rev().map(|s| s.to_string()).collect();
        assert_eq!(Task::detect(&cols).unwrap().name, "CXR-LT 2024 Task 3");
        cols.pop();
        assert!(Task::detect(&cols).is_none());
    }

    #[test]
    fn group_boundaries_are_exact() {
        assert_eq!(Group::from_count(101, 1000), Group::Head);
        assert_eq!(Group::from_count(100, 1000), Group::Medium);
        assert_eq!(Group::from_count(10, 1000), Group::Medium);
        assert_eq!(Group::from_count(9, 1000), Group::Tail);
    }

    #[test]
    fn custom_task_from_toml() {
        let t = Task::from_toml_str(
            "name = \"X\"\nlabels = [\"A\", \"B\"]\ntrain_counts = [500, 2]\ncritical = [\"B\"]\nresample = \"subject_id\"\n",
        )
        .unwrap();
        assert_eq!(t.groups, vec![Some(Group::Head), Some(Group::Tail)]);
        assert_eq!(t.resample, ResampleUnit::SubjectId);
        let err = Task::from_toml_str("name = \"X\"\nlabels = [\"A\", \"A\"]\n").unwrap_err();
        assert_eq!(err.to_string(), "task.toml: label \"A\" is listed twice");
        let err = Task::from_toml_str("name = \"X\"\nlabels = [\"A\"]\ncritical = [\"Z\"]\n")
            .unwrap_err();
        assert!(err.to_string().contains("\"Z\" is not one of the labels"));
    }
}

//! The CodaLab / Codabench scoring program: `tailboard score INPUT OUTPUT`.

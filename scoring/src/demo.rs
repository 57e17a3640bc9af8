//! Synthetic CXR-LT-like reference labels and submissions.

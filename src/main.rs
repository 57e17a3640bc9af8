//! `tailboard`: the CXR-LT leaderboard server and scoring program.

fn main() {
    println!("tailboard: not built yet");
}

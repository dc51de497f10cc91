use smtp_protocol::{Command, ParseOptions};
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let mut inputs = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        inputs.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    let n: usize = std::env::var("N")
        .map(|v| v.parse().unwrap())
        .unwrap_or(200);
    let t = Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        for i in &inputs {
            if Command::parse_with(i, ParseOptions::default()).is_ok() {
                ok += 1;
            }
        }
    }
    let per = t.elapsed().as_nanos() as f64 / (n * inputs.len()) as f64;
    println!(
        "parse_with: {per:.0} ns/op over {} inputs ({ok} ok)",
        inputs.len()
    );
    let t = Instant::now();
    for _ in 0..n {
        for i in &inputs {
            if let Ok(p) = Command::parse_with(i, ParseOptions::default()) {
                let w = p.command.to_bytes();
                std::hint::black_box(w);
            }
        }
    }
    let per = t.elapsed().as_nanos() as f64 / (n * inputs.len()) as f64;
    println!("parse+format: {per:.0} ns/op");
}

//! A small SVG badge of the certification grades, for a project's README: the shape
//! of the badges READMEs already carry (a grey label, a coloured message), drawn
//! here so the report needs no service to make it.

use super::model::Report;

/// The colour of the worse of the two grades.
fn colour(grades: &[&str]) -> &'static str {
    let worst = grades
        .iter()
        .filter(|g| **g != "-")
        .max()
        .copied()
        .unwrap_or("-");
    match worst {
        "A" => "#2e8b3a",
        "B" => "#6c9a00",
        "C" => "#b08800",
        "D" => "#c65a10",
        "F" => "#c0392b",
        _ => "#6e6e6e",
    }
}

/// Approximate text width (Verdana 11 px): enough for the box to fit its words.
fn width(text: &str) -> u32 {
    text.chars().count() as u32 * 7 + 10
}

/// The badge: `SMTP (smtpspec)` and `conformance A · security B`.
pub fn render(report: &Report) -> String {
    let c = report.certified();
    let (conformance, security) = (c.conformance.grade.as_str(), c.security.grade.as_str());
    let label = "smtpspec";
    let message = format!("conformance {conformance} · security {security}");
    let (lw, mw) = (width(label), width(&message));
    let total = lw + mw;
    let fill = colour(&[conformance, security]);
    let title = format!(
        "{}: {} (scoring version {})",
        report.target.name,
        c.lines().join("; "),
        c.scoring_version
    );
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {message}">
<title>{title}</title>
<rect width="{lw}" height="20" fill="#555"/>
<rect x="{lw}" width="{mw}" height="20" fill="{fill}"/>
<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">
<text x="{lx}" y="14">{label}</text>
<text x="{mx}" y="14">{message}</text>
</g>
</svg>
"##,
        title = escape(&title),
        lx = 5,
        mx = lw + 5,
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

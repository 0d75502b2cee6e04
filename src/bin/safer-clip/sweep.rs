//! `eval --sweep`'s output: the safety–knowledge trade-off as a table, a JSON file and an SVG plot
//! (redirection against what the model still knows).

use std::path::Path;

use safer_clip::error::{Error, Result};
use safer_clip::evaluation::SweepPoint;
use safer_clip::files::write_atomic;

/// Prints the table and writes `sweep.json` and `sweep.svg` into `out`.
pub fn write_sweep(out: &Path, points: &[SweepPoint]) -> Result<()> {
    std::fs::create_dir_all(out)
        .map_err(|e| Error::io(format!("cannot create {}", out.display()), e))?;
    println!("strength  unsafe→safe top-1  paired R@1  zero-shot  safe-caption cosine");
    for p in points {
        let percent = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v));
        let recall1 = p.paired_safe.first().map(|r| r.recall);
        println!(
            "{:>8.2}  {:>17}  {:>10}  {:>9}  {:>19.4}",
            p.strength,
            percent(Some(p.safe_top1)),
            percent(recall1),
            percent(p.zero_shot_accuracy),
            p.safe_caption_cosine
        );
    }
    let json = serde_json::to_string_pretty(points).expect("plain data serialises");
    write_atomic(&out.join("sweep.json"), json.as_bytes())?;
    write_atomic(&out.join("sweep.svg"), plot(points).as_bytes())?;
    println!(
        "wrote {} and {}",
        out.join("sweep.json").display(),
        out.join("sweep.svg").display()
    );
    Ok(())
}

/// Knowledge kept (zero-shot accuracy when measured, else the safe-caption cosine) across,
/// redirection (unsafe→safe top-1) up, one labelled point per strength.
fn plot(points: &[SweepPoint]) -> String {
    let zero_shot = points.iter().all(|p| p.zero_shot_accuracy.is_some());
    let x_of = |p: &SweepPoint| {
        if zero_shot {
            p.zero_shot_accuracy.unwrap_or(0.0)
        } else {
            p.safe_caption_cosine
        }
    };
    let y_of = |p: &SweepPoint| p.safe_top1;
    let range = |values: Vec<f64>| {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let pad = ((hi - lo) * 0.1).max(1e-3);
        (lo - pad, hi + pad)
    };
    let (x0, x1) = range(points.iter().map(x_of).collect());
    let (y0, y1) = range(points.iter().map(y_of).collect());
    let (w, h, m) = (480.0, 320.0, 56.0);
    let sx = |x: f64| m + (x - x0) / (x1 - x0) * (w - 2.0 * m);
    let sy = |y: f64| h - m - (y - y0) / (y1 - y0) * (h - 2.0 * m);
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", sx(x_of(p)), sy(y_of(p))))
        .collect();
    let x_label = if zero_shot {
        "zero-shot accuracy (knowledge kept)"
    } else {
        "safe-caption cosine to the original (knowledge kept)"
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <title>Safety–knowledge trade-off across adapter strengths</title>\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <line x1=\"{m}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#444\"/>\n\
         <line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{b}\" stroke=\"#444\"/>\n\
         <text x=\"{cx}\" y=\"{xl}\" text-anchor=\"middle\">{x_label}</text>\n\
         <text transform=\"translate(14 {cy}) rotate(-90)\" text-anchor=\"middle\">unsafe → safe top-1 (redirection)</text>\n\
         <text x=\"{m}\" y=\"{t}\" text-anchor=\"middle\">{x0:.3}</text><text x=\"{r}\" y=\"{t}\" text-anchor=\"middle\">{x1:.3}</text>\n\
         <text x=\"{yl}\" y=\"{b}\" text-anchor=\"end\">{y0:.3}</text><text x=\"{yl}\" y=\"{m}\" text-anchor=\"end\">{y1:.3}</text>\n\
         <polyline points=\"{points}\" fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\"/>\n",
        b = h - m,
        r = w - m,
        cx = w / 2.0,
        cy = h / 2.0,
        xl = h - 14.0,
        t = h - m + 16.0,
        yl = m - 6.0,
        points = line.join(" "),
    );
    for p in points {
        let (x, y) = (sx(x_of(p)), sy(y_of(p)));
        svg.push_str(&format!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#1f6feb\"/><text x=\"{:.1}\" y=\"{:.1}\">s = {}</text>\n",
            x + 6.0,
            y - 6.0,
            p.strength
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

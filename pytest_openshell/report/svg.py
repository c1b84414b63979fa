"""A latency histogram as a small standalone SVG (no plotting library needed)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 480, 240, 36
BINS = 20


def histogram_svg(title: str, samples_ms: Sequence[float], budget_ms: float | None = None) -> str:
    if not samples_ms:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="40"><text x="8" y="24">{escape(title)}: no samples</text></svg>'
    lo, hi = min(samples_ms), max(samples_ms)
    if budget_ms is not None:
        hi = max(hi, budget_ms)
    span = (hi - lo) or 1.0
    counts = [0] * BINS
    for s in samples_ms:
        counts[min(BINS - 1, int((s - lo) / span * BINS))] += 1
    top = max(counts)
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    bar_w = plot_w / BINS
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<text x="{PAD}" y="18" font-size="13">{escape(title)} (n={len(samples_ms)})</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="black"/>',
    ]
    for i, c in enumerate(counts):
        h = plot_h * c / top if top else 0
        x = PAD + i * bar_w
        parts.append(f'<rect x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" fill="#4a7bd0"/>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 14}">{lo:.1f} ms</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 14}" text-anchor="end">{hi:.1f} ms</text>')
    parts.append(f'<text x="{PAD - 4}" y="{PAD}" text-anchor="end">{top}</text>')
    if budget_ms is not None:
        bx = PAD + (budget_ms - lo) / span * plot_w
        parts.append(f'<line x1="{bx:.1f}" y1="{PAD}" x2="{bx:.1f}" y2="{HEIGHT - PAD}" stroke="#c0392b" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{bx:.1f}" y="{PAD - 4}" fill="#c0392b" text-anchor="middle">budget {budget_ms:.0f}</text>')
    parts.append("</svg>")
    return "\n".join(parts)

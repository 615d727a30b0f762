"""``babellens bench``: BabelLens hot paths against the plain transformers forward pass."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from babellens.bench.capture import bench_capture
from babellens.cli.loading import ModelArg, load_with_status
from babellens.cli.options import DtypeOpt
from babellens.cli.output import console, print_json

app = typer.Typer(
    help="Benchmarks (ratios against the plain transformers forward pass).", no_args_is_help=True
)


@app.command("capture")
def capture(
    model: ModelArg,
    batch_size: Annotated[int, typer.Option(min=1, max=512)] = 8,
    seq_len: Annotated[int, typer.Option(min=2, max=8192)] = 128,
    batches: Annotated[int, typer.Option(min=1, max=1000)] = 3,
    rounds: Annotated[int, typer.Option(min=1, max=100)] = 2,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    dtype: DtypeOpt = "auto",
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """HF forward with logits, without the unembedding, and BabelLens capturing every mlp_post (max)."""
    lm = load_with_status(model, quiet=json, device=device, dtype=dtype)
    result = bench_capture(
        lm, batch_size=batch_size, seq_len=seq_len, batches=batches, rounds=rounds
    )
    if json:
        print_json(result)
        return
    table = Table(
        title=f"{result.model} on {result.device} ({result.dtype}, {result.torch_threads} threads), "
        f"{result.tokens_per_method} tokens per method"
    )
    for col in ("method", "tokens/s", "× no-unembed forward", "× forward with logits"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for row in result.rows:
        table.add_row(
            row.method,
            f"{row.tokens_per_s:.0f}",
            f"{row.ratio_to_no_unembed:.3f}",
            f"{row.ratio_to_logits:.3f}",
        )
    console.print(table)


@app.command("scan")
def scan(
    model: ModelArg,
    tokens: Annotated[
        int, typer.Option(min=1024, help="Tokens for the throughput comparison.")
    ] = 8192,
    rss: Annotated[
        bool, typer.Option(help="Also measure peak memory at 10k and 100k tokens (slow).")
    ] = True,
    dtype: DtypeOpt = "auto",
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Scan throughput vs the decoder, memory growth 10k -> 100k tokens, congruence vs a matmul."""
    from babellens.bench.scan import bench_scan

    lm = load_with_status(model, quiet=json, dtype=dtype)
    result = bench_scan(lm, tokens=tokens, measure_rss=rss)
    if json:
        print_json(result)
        return
    table = Table(
        title=f"scan benchmark: {result.model} ({result.device}, {result.torch_threads} threads)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "HF forward, no unembedding (tokens/s)", f"{result.forward_no_unembed_tokens_per_s:.0f}"
    )
    table.add_row(
        "scan, all layers, k=20, histograms (tokens/s)", f"{result.scan_tokens_per_s:.0f}"
    )
    table.add_row("scan ÷ forward", f"{result.scan_ratio:.3f}")
    for n, mb in result.peak_rss_mb.items():
        table.add_row(f"peak RSS, {int(n):,} tokens (MB)", f"{mb:.0f}")
    table.add_row("RSS growth 10k -> 100k tokens", f"{result.rss_growth:.1%}")
    table.add_row("congruence of one layer (s)", f"{result.congruence_layer_s:.2f}")
    table.add_row("one plain matmul of the same size (s)", f"{result.plain_matmul_s:.2f}")
    console.print(table)

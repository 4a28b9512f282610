"""``firstline kb``: ingest, search, stats and eval of the knowledge base."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from firstline.errors import FirstlineError

if TYPE_CHECKING:
    from firstline.knowledge.models import Hit
    from firstline.knowledge.retriever import Mode

kb_app = typer.Typer(help="The knowledge base: ingest, search, stats, eval.", no_args_is_help=True)

MODE_HELP = "dense | bm25 | hybrid | hybrid+rerank | rrf"


def _progress() -> Progress:
    from firstline.cli.main import err

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@kb_app.command("ingest")
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="files or folders (default: the demo runbooks)")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="delete chunks of files gone from these paths")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ingest Markdown, HTML, PDF, text and BEIR JSONL files; unchanged files are skipped.

    Passages with instruction-like text (addressed to an AI, "ignore previous instructions", role tags,
    hidden comments with orders) are listed as flagged: they are kept, and withheld whenever shown.
    """
    from firstline.cli.main import console, err, fail, print_json, printable, settings_or_exit
    from firstline.runtime import Runtime, demo_runbooks

    settings = settings_or_exit()
    targets = paths or [demo_runbooks()]
    try:
        with Runtime(settings) as runtime, _progress() as bar:
            task = bar.add_task("ingesting", total=None)

            def tick(done: int, total: int, source: str) -> None:
                name = printable(f"ingesting {Path(source).name}"[:60])
                bar.update(task, completed=done, total=total, description=name)

            report = runtime.knowledge.ingest(targets, prune=prune, progress=tick)
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(
            f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
            f"removed {len(report.removed)}, failed {len(report.failed)}, flagged {len(report.flagged)}; "
            f"{report.chunks_embedded} chunks embedded, {report.chunks_deleted} deleted in {report.seconds:.1f} s"
        )
    for source, reason in report.failed:
        err.print(f"[yellow]skipped[/] {printable(source)}: {printable(reason)}", highlight=False, soft_wrap=True)
    for item in report.flagged:
        where = f"{printable(item.source)} · {printable(item.section)} (chunk {item.chunk_id})"
        err.print(f"[yellow]flagged[/] {where}: {', '.join(item.rules)}", highlight=False, soft_wrap=True)
        for passage in item.passages:
            err.print(f"    {printable(passage)}", highlight=False, soft_wrap=True)
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


@kb_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="what you are looking for")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="number of hits")] = 5,
    mode: Annotated[str | None, typer.Option("--mode", help=MODE_HELP)] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="filter (repeatable)")] = None,
    audience: Annotated[list[str] | None, typer.Option("--audience", help="filter (repeatable)")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="require tag (repeatable)")] = None,
    flagged: Annotated[
        bool, typer.Option("--flagged", help="only passages flagged as instruction-like (shown as written)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search the knowledge base; every hit carries its citation."""
    from firstline.cli.main import console, fail, print_json, printable, settings_or_exit
    from firstline.knowledge.models import Filters
    from firstline.knowledge.retriever import MODES
    from firstline.runtime import Runtime

    settings = settings_or_exit()
    chosen = mode or settings.knowledge.retrieval.default_mode
    if chosen not in MODES:
        fail(ValueError(f"unknown mode {chosen!r}; choose one of {', '.join(MODES)}"))
    filters = Filters.of(category, audience, tag, flagged=True if flagged else None)
    try:
        with Runtime(settings) as runtime:
            hits = runtime.knowledge.search(query, k=k, mode=chosen, filters=filters)  # type: ignore[arg-type]
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json({"query": query, "mode": chosen, "hits": [h.as_dict() for h in hits]})
        return
    if not hits:
        console.print(
            "No matching runbook section. Try other words, or run `firstline kb stats` to see what is indexed."
        )
        return
    for rank, hit in enumerate(hits, start=1):
        c = hit.citation
        heading = printable(c.section_path or c.title)
        console.print(f"[bold]{rank}. {heading}[/]  [dim]score {hit.score:.3f}[/]", highlight=False)
        snippet = " ".join(hit.chunk.text.split())
        console.print(f"   {printable(snippet[:280])}{'…' if len(snippet) > 280 else ''}", highlight=False)
        console.print(f"   [dim]{printable(c.url or c.source)} · chunk {printable(c.chunk_id)}[/]", highlight=False)


@kb_app.command("stats")
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What is indexed: sources, documents, chunks, vectors, categories."""
    from firstline.cli.main import console, fail, print_json, printable, settings_or_exit
    from firstline.runtime import Runtime

    settings = settings_or_exit()
    try:
        with Runtime(settings) as runtime:
            result = runtime.knowledge.stats()
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title="Knowledge base", show_header=False)
    for key, value in result.as_dict().items():
        shown = ", ".join(f"{k or '(none)'}: {v}" for k, v in value.items()) if isinstance(value, dict) else value
        table.add_row(printable(key), printable(shown))
    console.print(table)


@kb_app.command("eval")
def evaluate(
    corpus: Annotated[Path, typer.Option("--corpus", help="BEIR corpus.jsonl (_id, title, text)")],
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries.jsonl (_id, text)")],
    qrels: Annotated[Path, typer.Option("--qrels", help="qrels CSV/TSV: query-id, corpus-id, score")],
    mode: Annotated[str, typer.Option("--mode", help=f"all | {MODE_HELP}")] = "all",
    index_dir: Annotated[
        Path | None, typer.Option("--index-dir", help="keep the eval index here (reused when unchanged)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """NDCG@10, MRR@10, Recall@10, Recall@100 and p50/p95 latency per retrieval mode."""
    from firstline.cli.main import console, fail, print_json, printable, settings_or_exit
    from firstline.knowledge.evaluation import evaluate as run_eval
    from firstline.knowledge.evaluation import load_qrels, load_queries
    from firstline.knowledge.retriever import MODES
    from firstline.runtime import build_knowledge

    settings = settings_or_exit()
    modes = [m for m in MODES if m != "hybrid+rerank" or settings.knowledge.rerank.kind != "none"]
    if mode != "all":
        if mode not in MODES:
            fail(ValueError(f"unknown mode {mode!r}; choose all or one of {', '.join(MODES)}"))
        modes = [mode]
    for path in (corpus, queries, qrels):
        if not path.is_file():
            fail(FileNotFoundError(f"{path} does not exist"))
    workdir = tempfile.TemporaryDirectory(prefix="firstline-eval-") if index_dir is None else None
    folder = index_dir or Path(workdir.name)  # type: ignore[union-attr]
    embedded = {"chroma-server": "chroma", "qdrant-server": "qdrant"}.get(settings.knowledge.store)
    knowledge_settings = settings.knowledge.model_copy(
        update={
            "index_dir": folder,
            "store": embedded or settings.knowledge.store,
            "collection": "firstline_eval",
            "catalog_url": f"sqlite:///{folder / 'eval-catalog.db'}",  # never the deployment's shared catalog
        }
    )
    eval_settings = settings.model_copy(update={"knowledge": knowledge_settings})
    results = {}
    try:
        query_map, judgements = load_queries(queries), load_qrels(qrels)
        kb = build_knowledge(eval_settings)
        try:
            with _progress() as bar:
                task = bar.add_task(printable(f"indexing {corpus.name}"), total=None)
                report = kb.ingest([corpus], progress=lambda d, t, s: bar.update(task, completed=d, total=t))
                if report.failed:
                    fail(ValueError(f"{corpus}: {report.failed[0][1]}"))
                for m in modes:
                    task = bar.add_task(f"evaluating {m}", total=None)

                    def search_docs(query: str, md: str) -> list[Hit]:
                        return kb.search(query, k=100, mode=cast("Mode", md), by_document=True)

                    def tick(done: int, total: int, task: TaskID = task) -> None:
                        bar.update(task, completed=done, total=total)

                    results[m] = run_eval(search_docs, query_map, judgements, m, progress=tick)
        finally:
            kb.close()
    except FirstlineError as exc:
        fail(exc)
    finally:
        if workdir is not None:
            workdir.cleanup()
    if as_json:
        print_json({m: r.as_dict() for m, r in results.items()})
        return
    table = Table(title=f"{printable(corpus.name)}: {next(iter(results.values())).queries} judged queries")
    for column in ("mode", "NDCG@10", "MRR@10", "R@10", "R@100", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right" if column != "mode" else "left")
    for m, r in results.items():
        table.add_row(
            m,
            f"{r.ndcg_at_10:.4f}",
            f"{r.mrr_at_10:.4f}",
            f"{r.recall_at_10:.4f}",
            f"{r.recall_at_100:.4f}",
            f"{r.latency_p50_ms:.1f}",
            f"{r.latency_p95_ms:.1f}",
        )
    console.print(table)

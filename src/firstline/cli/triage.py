"""``firstline triage``: classify a request, retrain the model, evaluate it on a labelled file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from firstline.errors import FirstlineError


class _ClassifyByDefault(TyperGroup):
    """``firstline triage "text"`` classifies; ``firstline triage train|eval`` are subcommands."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["classify", *args]
        return super().parse_args(ctx, args)


triage_app = typer.Typer(
    cls=_ClassifyByDefault,
    help='Route a request to a specialist: firstline triage "text" [--json] | train | eval --dataset FILE.',
    no_args_is_help=True,
)


@triage_app.command("classify")
def classify(
    text: Annotated[str, typer.Argument(help="the request, e.g. 'my vpn drops every 5 minutes'")],
    as_json: Annotated[bool, typer.Option("--json", help="print {agent, intent, priority, confidence}")] = False,
    details: Annotated[bool, typer.Option("--details", help="with --json: alternatives, reasons, flags")] = False,
) -> None:
    """Classify one request: specialist, intent, priority (1 Critical .. 5 Planning), confidence."""
    from firstline.cli.main import console, fail, print_json, printable, settings_or_exit
    from firstline.runtime import Runtime

    settings = settings_or_exit()
    try:
        with Runtime(settings) as runtime:
            result = runtime.triage.classify(text)
    except FirstlineError as exc:
        fail(exc)
    if as_json:
        print_json(result.details() if details else result.as_dict())
        return
    console.print(
        f"[bold]{result.agent}[/] / {result.intent}  {result.assessment.label}  confidence {result.confidence:.2f}",
        highlight=False,
    )
    for reason in result.assessment.reasons:
        console.print(f"  priority: {printable(reason)}", highlight=False)
    if result.clarify:
        console.print(f"  [yellow]would ask:[/] {printable(result.clarify)}", highlight=False)
    if result.secondary:
        agent, intent, clause = result.secondary
        console.print(f"  second problem: {printable(agent)} / {printable(intent)} ({printable(repr(clause))})")
    if result.injection:
        console.print("  [yellow]contains instructions aimed at the system: treated as the requester's own request[/]")


@triage_app.command("train")
def train(
    dataset: Annotated[Path | None, typer.Option("--dataset", help="JSONL with text, agent, intent")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="default: <data_dir>/models/triage-model.npz")] = None,
) -> None:
    """Train the triage model on the shipped utterances (or --dataset) plus the demo runbooks, and the
    dialogue-act model and the beneficiary model on their shipped utterances (saved beside it as
    acts-model.npz and beneficiary-model.npz)."""
    from firstline.cli.main import console, fail, settings_or_exit
    from firstline.helpdesk.acts import ActModel, Acts, load_act_examples
    from firstline.helpdesk.beneficiary import Beneficiary, BeneficiaryModel, load_beneficiary_examples
    from firstline.helpdesk.taxonomy import data_dir
    from firstline.helpdesk.triage import TriageModel, load_examples, runbook_references
    from firstline.runtime import build_embedder, demo_runbooks

    settings = settings_or_exit()
    source = dataset or data_dir() / "utterances" / "train.jsonl"
    target = output or settings.data_dir / "models" / "triage-model.npz"
    try:
        embedder = build_embedder(settings.knowledge)
        examples = load_examples(source)
        model = TriageModel.train(examples, embedder, runbook_references(demo_runbooks()))
        model.save(target)
        acts = ActModel.train(load_act_examples(data_dir() / "acts" / "train.jsonl"), embedder)
        acts.save(target.with_name("acts-model.npz"))
        held_out = Acts(acts, embedder).evaluate(load_act_examples(data_dir() / "acts" / "heldout.jsonl"))
        whose = BeneficiaryModel.train(load_beneficiary_examples(data_dir() / "beneficiary" / "train.jsonl"), embedder)
        whose.save(target.with_name("beneficiary-model.npz"))
        whose_held_out = Beneficiary(whose, embedder).evaluate(
            load_beneficiary_examples(data_dir() / "beneficiary" / "heldout.jsonl")
        )
    except FirstlineError as exc:
        fail(exc)
    console.print(
        f"trained on {len(examples)} utterances + {model.meta['references']} runbook sections "
        f"in {model.meta['seconds']} s -> {target}"
    )
    console.print(
        f"dialogue acts: {acts.meta['examples']} utterances, held-out accuracy {held_out['accuracy']:.3f} "
        f"-> {target.with_name('acts-model.npz')}"
    )
    console.print(
        f"beneficiary: {whose.meta['examples']} utterances, held-out accuracy {whose_held_out['accuracy']:.3f} "
        f"-> {target.with_name('beneficiary-model.npz')}"
    )


@triage_app.command("eval")
def evaluate(
    dataset: Annotated[Path, typer.Option("--dataset", help="JSONL with text and agent (and intent)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Accuracy, macro-F1 and the confusion matrix of the routing label on a labelled file."""
    from firstline.cli.main import console, fail, print_json, settings_or_exit
    from firstline.helpdesk.triage import load_examples
    from firstline.runtime import Runtime

    settings = settings_or_exit()
    try:
        examples = load_examples(dataset)
        if not examples:
            fail(ValueError(f"{dataset} has no examples"))
        with Runtime(settings) as runtime:
            predicted = [runtime.triage.classify(e.text) for e in examples]
    except FirstlineError as exc:
        fail(exc)
    report = score([e.agent for e in examples], [p.agent for p in predicted])
    with_intent = [(e, p) for e, p in zip(examples, predicted, strict=True) if e.intent != e.agent]
    if with_intent:
        report["intent_accuracy"] = round(sum(e.intent == p.intent for e, p in with_intent) / len(with_intent), 4)
    if as_json:
        print_json(report)
        return
    console.print(
        f"n={report['n']}  accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}"
        + (f"  intent accuracy {report['intent_accuracy']:.4f}" if "intent_accuracy" in report else "")
    )
    labels = sorted(report["confusion"])
    table = Table(title="confusion (rows: expected, columns: predicted)")
    table.add_column("")
    for label in labels:
        table.add_column(label[:6], justify="right")
    for label in labels:
        table.add_row(label, *[str(report["confusion"][label].get(other, 0) or "") for other in labels])
    console.print(table)


def score(expected: list[str], predicted: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the expected labels, and a nested confusion count dict."""
    labels = sorted(set(expected) | set(predicted))
    confusion = {a: dict(Counter(p for e, p in zip(expected, predicted, strict=True) if e == a)) for a in labels}
    f1s = []
    for label in sorted(set(expected)):
        tp = confusion[label].get(label, 0)
        fp = sum(confusion[other].get(label, 0) for other in labels if other != label)
        fn = sum(n for other, n in confusion[label].items() if other != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    correct = sum(e == p for e, p in zip(expected, predicted, strict=True))
    return {
        "n": len(expected),
        "accuracy": round(correct / len(expected), 4),
        "macro_f1": round(sum(f1s) / len(f1s), 4),
        "confusion": {a: dict(sorted(row.items())) for a, row in confusion.items() if row},
    }

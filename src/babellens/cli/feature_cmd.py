"""``babellens feature ID INDEX``: one dictionary feature, like ``babellens neuron``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from babellens.cli.options import DbOpt, JsonOpt
from babellens.cli.output import console, print_json
from babellens.errors import InvalidInputError
from babellens.jobs import cached_model
from babellens.store import open_database
from babellens.store.dictionaries import DictionaryStore

__all__ = ["feature"]


def feature(
    dictionary: Annotated[int, typer.Argument(help="Dictionary id.")],
    index: Annotated[int, typer.Argument(help="Feature index.")],
    member: Annotated[str | None, typer.Option(help="Member of a set (its hook point).")] = None,
    top: Annotated[int, typer.Option(min=1, max=100, help="Promoted/suppressed tokens.")] = 10,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """One feature: its scan statistics and examples (after `dict scan`), promoted tokens."""
    from babellens.cli.scan_cmd import print_neuron
    from babellens.dictionaries.features import check_feature, feature_tokens
    from babellens.models.token_text import token_pieces
    from babellens.store import ResultStore

    database = open_database(db)
    store = DictionaryStore(database)
    info = store.get(dictionary)
    if info.is_set and member is None:
        raise InvalidInputError(
            f"dictionary {dictionary} is a set of {len(info.members)}: pass --member, e.g. "
            f"--member {info.members[0][0]}"
        )
    (sd,) = store.load(dictionary, member)
    check_feature(sd, index)
    lm = cached_model(info.model)
    tokens = feature_tokens(lm, sd, index, top)
    position = [m[0] for m in info.members].index(sd.hook_in)
    scan_job = info.metrics.get("scan", {}).get("job_id")
    record = None
    if scan_job is not None:
        record = ResultStore(database).neuron(
            scan_job, position, index, lambda ids: token_pieces(lm.tokenizer, ids)
        )
    if json:
        print_json(
            {
                "id": dictionary,
                "member": sd.hook_in,
                "index": index,
                "scan": record.model_dump(mode="json") if record else None,
                **tokens.model_dump(mode="json"),
            }
        )
        return
    console.print(f"[bold]dictionary {dictionary}[/] ({info.kind} on {sd.hook_in}) feature {index}")
    if record is not None:
        print_neuron(record)
    else:
        console.print(f"(no scan yet: `babellens dict scan {dictionary}` finds its top contexts)")
    console.print(
        "promotes:   "
        + "  ".join(f"{escape(repr(t.token))} {t.score:+.2f}" for t in tokens.promoted)
    )
    console.print(
        "suppresses: "
        + "  ".join(f"{escape(repr(t.token))} {t.score:+.2f}" for t in tokens.suppressed)
    )

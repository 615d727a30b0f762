"""The glossary: the terms every page uses, in plain language."""

from fastapi import APIRouter

from babellens.web.glossary_terms import TERMS
from babellens.web.pages import page
from babellens.web.schemas import GlossaryPage, TermDefinition

router = APIRouter()


@page(router, "/glossary", "glossary.html", title="Glossary", nav=90)
def glossary() -> GlossaryPage:
    return GlossaryPage(terms=[TermDefinition(term=t, definition=d) for t, d in TERMS])

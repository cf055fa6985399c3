"""The demo's simulated survey answers, stored through the same checks as the web form."""

from __future__ import annotations

from random import Random
from typing import Any

from sqlalchemy import select

from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Person, Registration, Survey, SurveyToken
from eventkit.events.events import find_event
from eventkit.model.survey import (
    Definition,
)
from eventkit.runtime import Runtime
from eventkit.survey.responses import AlreadyAnswered, SurveyClosed, link_token, submit

_SAMPLE_TEXTS = {
    "de": [
        "Der Austausch mit den anderen Initiativen aus dem Landkreis.",
        "Die Arbeitsgruppen waren gut moderiert, wir haben konkrete Verabredungen getroffen.",
        "Mehr Zeit für die Pausen und das Gespräch am Rand.",
        "Neue Kontakte für unsere Jugendarbeit – danke!",
        "Die Unterlagen vorher per E-Mail schicken, dann kann man sich besser vorbereiten.",
        "Dolmetschen ins Arabische hat sehr geholfen.",
        "Ein ruhigerer Raum für die Kleingruppen wäre schön.",
    ],
    "en": [
        "Meeting the other associations and hearing about their projects.",
        "More time for questions after the presentations.",
        "The step-free access and the interpreting worked very well.",
    ],
}


def simulated_form(definition: Definition, rng: Random, language: str = "de") -> dict[str, Any]:
    """A plausible response as a browser would send it (strings, several values for several choices)."""
    data: dict[str, Any] = {}
    texts = _SAMPLE_TEXTS.get(language, _SAMPLE_TEXTS["de"])
    for q in definition.questions:
        if not q.required and rng.random() < 0.3:
            continue
        if q.type == "scale":
            # answers lean towards the upper half, as they do after a good meeting
            span = list(range(q.min, q.max + 1))
            weights = [1 + 2 * i for i in range(len(span))]
            data[q.name] = str(rng.choices(span, weights)[0])
        elif q.type == "choice":
            data[q.name] = rng.choices(list(q.values), [len(q.values) - i for i in range(len(q.values))])[0]
        elif q.type == "multichoice":
            data[q.name] = [v for v in q.values if rng.random() < 0.4] or [q.values[0]]
        else:
            data[q.name] = rng.choice(texts)
    return data


def simulate_responses(rt: Runtime, slug: str, rng: Random, *, share: float = 0.75) -> int:
    """Answer an open survey for about `share` of its invitations, each through the same checks and
    storage as the web form (submit); returns how many responses were stored."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        survey = session.scalar(select(Survey).where(Survey.event_id == event.id))
        if survey is None:
            return 0
        definition = Definition.from_data(survey.definition)
        rows = session.execute(
            select(SurveyToken, Person.language)
            .join(Registration, Registration.id == SurveyToken.registration_id)
            .join(Person, Person.id == Registration.person_id)
            .where(SurveyToken.event_id == event.id, SurveyToken.answered.is_(False))
            .order_by(SurveyToken.id)
        ).all()
        links = [(link_token(rt, token), language) for token, language in rows]
    stored = 0
    for token, language in links:
        if rng.random() >= share:
            continue
        try:
            submit(rt, slug, token, simulated_form(definition, rng, language))
        except (AlreadyAnswered, SurveyClosed, ValidationFailed):
            continue
        stored += 1
    return stored

"""The survey: definitions per format and event, checked answers, one anonymous response per link, reminders."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, update

from eventkit.core.tokens import signed_token, token_hash
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Event, Invitation, OutboxMessage, Person, Registration, SurveyResponse, SurveyToken
from eventkit.devtools import survey_answers
from eventkit.door import checkins
from eventkit.events.events import save_event
from eventkit.invitations.invitations import import_invitees
from eventkit.model.formats import discover
from eventkit.model.invitees import Invitee
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import EventSpec, parse_spec
from eventkit.model.survey import Definition
from eventkit.registration import desk
from eventkit.runtime import Runtime
from eventkit.survey import emails, questions
from eventkit.survey import responses as survey_responses
from eventkit.survey.responses import AlreadyAnswered, InvalidSurveyLink, SurveyClosed
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD

# a valid response to the default survey (_base/survey.yaml), as a form sends it
ANSWERS = {"overall": "4", "usefulness": "5", "come_again": "yes", "heard_via": ["network", "invitation"]}


def ended_spec_text(days_ago: int = 1, extra: str = "", base: str = GOOD) -> str:
    """GOOD, held `days_ago` days before today (so that its survey is open whatever the date)."""
    day = date.today() - timedelta(days=days_ago)
    deadline = day - timedelta(days=4)
    return (
        base.replace("start: 2027-11-20T12:00", f"start: {day.isoformat()}T12:00")
        .replace("end: 2027-11-20T17:00", f"end: {day.isoformat()}T17:00")
        .replace("registration_deadline: 2027-11-16T23:59", f"registration_deadline: {deadline.isoformat()}T23:59")
        + extra
    )


@dataclass
class Attendee:
    email: str
    name: str
    language: str
    registration_id: int
    person_id: int


def add_attendee(
    rt: Runtime, spec: EventSpec, email: str, name: str, language: str = "de", *, present: bool
) -> Attendee:
    """An invited person registered ten days before the event, checked in on the day if `present`."""
    import_invitees(rt.store, spec.slug, [Invitee(email, name, None, language, 2)])
    token = f"invite-{spec.slug}-{email}"
    digest = token_hash(rt.settings.secret_key, "register", token)
    with rt.store.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == email)).one()
        event_id = session.scalars(select(Event.id).where(Event.slug == spec.slug)).one()
        session.execute(
            update(Invitation)
            .where(Invitation.person_id == person_id, Invitation.event_id == event_id)
            .values(token_hash=digest)
        )
    outcome = desk.submit(
        rt,
        spec.slug,
        RegistrationInput(name, email, None, language, {}),
        invitation_token=token,
        now=spec.start - timedelta(days=10),
    )
    assert outcome.status == "registered"
    if present:
        assert checkins.check_in(rt, spec.slug, outcome.registration_id, True, now=spec.start)
    return Attendee(email, name, language, outcome.registration_id, person_id)


def make_ended_event(rt: Runtime, extra: str = "", base: str = GOOD) -> EventSpec:
    spec = parse_spec(ended_spec_text(extra=extra, base=base), TEMPLATES)
    save_event(rt.store, rt.settings, spec)
    return spec


def link_of(rt: Runtime, registration_id: int) -> str:
    """The survey link token a person's invitation carries."""
    with rt.store.session() as session:
        row = session.scalars(select(SurveyToken).where(SurveyToken.registration_id == registration_id)).one()
        return survey_responses.link_token(rt, row)


def responses(rt: Runtime) -> int:
    with rt.store.session() as session:
        return session.scalar(select(func.count()).select_from(SurveyResponse)) or 0


PEOPLE = [
    ("ayse@example.org", "Ayşe Yılmaz", "de", True),
    ("dmitri@example.org", "Дмитрий Иванов", "en", True),
    ("olena@example.org", "Olena Kovalenko", "de", True),
    ("m.alahmad@example.org", "محمد الأحمد", "en", False),  # registered, did not come
]


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def opened(rt: Runtime) -> tuple[EventSpec, list[Attendee]]:
    spec = make_ended_event(rt)
    people = [add_attendee(rt, spec, e, n, lang, present=p) for e, n, lang, p in PEOPLE]
    assert emails.open_survey(rt, spec.slug)["invited"] == 3
    return spec, people


# --- definitions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("format_name", sorted(discover(TEMPLATES)))
def test_every_formats_survey_is_valid_and_bilingual(format_name: str) -> None:
    definition = questions.definition_for(discover(TEMPLATES)[format_name], {})
    assert {q.type for q in definition.questions} >= {"scale", "choice", "multichoice", "textarea"}
    for q in definition.questions:
        assert q.label.values.keys() >= {"de", "en"}, q.name
        assert q.label.get("de") != q.label.get("en"), q.name
        if q.type == "scale":
            assert (q.min, q.max) == (1, 5) and q.min_label and q.max_label


def test_a_format_folder_replaces_the_base_survey() -> None:
    formats = discover(TEMPLATES)
    barcamp = [q.name for q in questions.definition_for(formats["barcamp"], {}).questions]
    shared = [q.name for q in questions.definition_for(formats["fachvernetzung"], {}).questions]
    assert "session_planning" in barcamp and "session_planning" not in shared
    assert (TEMPLATES / "formats" / "barcamp" / "survey.yaml").is_file()
    assert not (TEMPLATES / "formats" / "fachvernetzung" / "survey.yaml").exists()


def test_an_event_changes_leaves_out_and_adds_questions() -> None:
    extra = """\
survey:
  - name: overall
    label: {de: "Wie war die Fachvernetzung?", en: "How was the Fachvernetzung?"}
  - name: heard_via
    omit: true
  - name: next_topic
    type: text
    label: {de: "Welches Thema wünschen Sie sich?", en: "Which topic would you like?"}
survey_audience: registered
survey_min_group: 5
"""
    spec = parse_spec(GOOD + extra, TEMPLATES)
    definition = questions.definition_for(discover(TEMPLATES)["fachvernetzung"], spec.extra)
    names = [q.name for q in definition.questions]
    assert "heard_via" not in names and names[-1] == "next_topic"
    overall = definition.get("overall")
    assert overall is not None and overall.label.get("en") == "How was the Fachvernetzung?"
    assert overall.type == "scale" and overall.max_label is not None  # the rest of the question stays
    assert questions.audience_of(spec) == "registered" and questions.min_group_of(spec) == 5
    assert questions.audience_of(parse_spec(GOOD, TEMPLATES)) == "attended"
    assert questions.min_group_of(parse_spec(GOOD, TEMPLATES)) == 3


def spec_problems(extra: str, language: str = "en") -> str:
    with pytest.raises(ValidationFailed) as info:
        parse_spec(GOOD + extra, TEMPLATES, source="event.yaml")
    return info.value.render(language)


def test_mistakes_in_the_specs_survey_are_named_with_their_line() -> None:
    text = spec_problems(
        """\
survey:
  - name: mood
    type: slider
    label: Stimmung
  - name: come_again
    optons: [a, b]
  - name: food
    omit: true
  - name: rating
    type: scale
    min: 3
    max: 2
    label: Bewertung
  - name: pick
    type: choice
    label: Wahl
    options: [only-one]
survey_audience: everyone
survey_min_group: 0
"""
    )
    assert "event.yaml:17: survey[0].type: must be one of scale, choice, multichoice, text, textarea" in text
    assert "survey[1].optons: unknown key; did you mean 'options'?" in text
    assert "survey[2].name: there is no question 'food' to leave out" in text
    assert "survey[3].max: a scale runs from min to a larger max, within 0 to 10" in text
    assert "survey[4].options: needs a list of at least two options" in text
    assert "survey_audience: must be one of attended, registered" in text
    assert "survey_min_group: must be a whole number from 1 to 100" in text
    german = spec_problems("survey: {name: x}\n", "de")
    assert "survey: muss eine Liste von Fragen sein" in german


# --- answers ---------------------------------------------------------------------------------------------


@pytest.fixture
def definition() -> Definition:
    return questions.definition_for(discover(TEMPLATES)["fachvernetzung"], {})


def test_answers_come_back_typed_and_complete(definition: Definition) -> None:
    answers = questions.parse_answers(
        definition, {**ANSWERS, "improve": "  Mehr Pausen.\r\nUnd Kaffee.  ", "csrf_token": "x", "t": "y"}
    )
    assert answers["overall"] == 4 and answers["usefulness"] == 5
    assert answers["heard_via"] == ["invitation", "network"]  # the question's order
    assert answers["improve"] == "Mehr Pausen.\nUnd Kaffee."
    assert answers["organisation"] is None and answers["most_valuable"] is None
    assert set(answers) == {q.name for q in definition.questions}  # nothing else (no token, no CSRF field)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"overall": ""}, "overall", "ist erforderlich"),
        ({"overall": "7"}, "overall", "muss eine ganze Zahl von 1 bis 5 sein"),
        ({"overall": ["4", "5"]}, "overall", "muss eine ganze Zahl von 1 bis 5 sein"),
        ({"come_again": "perhaps"}, "come_again", "muss eins davon sein: yes, maybe, no"),
        ({"heard_via": ["network", "tv"]}, "heard_via", "invitation, network, online, other"),
        ({"improve": "x" * 4001}, "improve", "ist zu lang (4001 Zeichen, höchstens 4000)"),
        ({"improve": "Bell\x07"}, "improve", "Steuerzeichen"),
    ],
)
def test_bad_answers_are_named_by_question(
    definition: Definition, change: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        questions.parse_answers(definition, {**ANSWERS, **change})
    assert [p.field for p in info.value.problems] == [field]
    assert message in info.value.render("de")


def test_every_missing_required_answer_is_reported_at_once(definition: Definition) -> None:
    with pytest.raises(ValidationFailed) as info:
        questions.parse_answers(definition, {})
    assert [p.field for p in info.value.problems] == ["overall", "usefulness", "come_again"]
    assert "overall: is required" in info.value.render("en")


# --- storage ---------------------------------------------------------------------------------------------


def test_attendees_get_the_survey_and_registered_people_only_on_request(rt: Runtime) -> None:
    spec = make_ended_event(rt)
    for email, name, language, present in PEOPLE:
        add_attendee(rt, spec, email, name, language, present=present)
    first = emails.open_survey(rt, spec.slug)
    assert (first["audience"], first["invited"], first["already"]) == (3, 3, 0)
    again = emails.open_survey(rt, spec.slug)
    assert (again["invited"], again["already"]) == (0, 3)  # nothing twice
    with rt.store.session() as session:
        kinds = session.execute(select(OutboxMessage.kind, OutboxMessage.recipient)).all()
    assert sorted(r for k, r in kinds if k == "survey-invitation") == sorted(e for e, _, _, p in PEOPLE if p)

    other = make_ended_event(rt, "survey_audience: registered\nslug: fachvernetzung-zwei\n")
    for email, name, language, present in PEOPLE:
        add_attendee(rt, other, email, name, language, present=present)
    assert emails.open_survey(rt, other.slug)["invited"] == 4


def test_no_survey_before_the_end_or_for_a_cancelled_event(rt: Runtime) -> None:
    spec = make_ended_event(rt)
    assert emails.open_survey(rt, spec.slug, now=spec.end - timedelta(minutes=1))["not_ended"] == 1
    with rt.store.session() as session:
        assert session.scalar(select(func.count()).select_from(SurveyToken)) == 0


def test_one_response_per_link_and_nothing_that_names_the_person(
    rt: Runtime, opened: tuple[EventSpec, list[Attendee]]
) -> None:
    spec, people = opened
    token = link_of(rt, people[0].registration_id)
    view = survey_responses.peek(rt, spec.slug, token)
    assert view.language == "de" and view.definition.get("overall") is not None
    survey_responses.submit(rt, spec.slug, token, ANSWERS)
    with pytest.raises(AlreadyAnswered):
        survey_responses.submit(rt, spec.slug, token, ANSWERS)
    with pytest.raises(AlreadyAnswered):
        survey_responses.peek(rt, spec.slug, token)
    assert responses(rt) == 1
    # the response has no column that could lead back to a person, a link or a moment
    columns = {c["name"] for c in inspect(rt.store.engine).get_columns("survey_responses")}
    assert columns == {"id", "event_id", "answers", "submitted_on"}
    token_columns = {c["name"] for c in inspect(rt.store.engine).get_columns("survey_tokens")}
    assert not token_columns & {"response_id", "answered_at", "updated_at"}
    with rt.store.session() as session:
        stored = session.scalars(select(SurveyResponse)).one()
        assert stored.submitted_on == datetime.now(UTC).astimezone(spec.start.tzinfo).date()
        assert len(stored.id) == 32 and stored.answers["overall"] == 4


def test_bad_answers_store_nothing_and_leave_the_link_usable(
    rt: Runtime, opened: tuple[EventSpec, list[Attendee]]
) -> None:
    spec, people = opened
    token = link_of(rt, people[1].registration_id)
    with pytest.raises(ValidationFailed):
        survey_responses.submit(rt, spec.slug, token, {**ANSWERS, "overall": "9"})
    assert responses(rt) == 0
    survey_responses.submit(rt, spec.slug, token, ANSWERS)
    assert responses(rt) == 1


def test_altered_foreign_and_expired_links_are_refused(rt: Runtime, opened: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = opened
    token = link_of(rt, people[0].registration_id)
    subject, mac = token.split(".")
    tampered = [
        f"{subject}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",  # a changed signature
        f"{int(subject) + 1}.{mac}",  # another person's number with this signature
        "",
        "nonsense",
        "9" * 400,
    ]
    with rt.store.session() as session:
        registration = session.get(Registration, people[0].registration_id)
        assert registration is not None
        # a real link of this person, made for another purpose (their registration page)
        tampered.append(signed_token(rt.settings.secret_key, "manage", int(subject), registration.token_nonce))
        row = session.get(SurveyToken, int(subject))
        assert row is not None
        tampered.append(signed_token(rt.settings.secret_key, "manage", row.id, row.nonce))
    for bad in tampered:
        with pytest.raises(InvalidSurveyLink):
            survey_responses.peek(rt, spec.slug, bad)
        with pytest.raises(InvalidSurveyLink):
            survey_responses.submit(rt, spec.slug, bad, ANSWERS)
    later = datetime.now(UTC) + timedelta(days=15)  # after the evaluation date (14 days after the end)
    with pytest.raises(SurveyClosed):
        survey_responses.peek(rt, spec.slug, token, now=later)
    with pytest.raises(SurveyClosed):
        survey_responses.submit(rt, spec.slug, token, ANSWERS, now=later)
    assert responses(rt) == 0


def test_the_organiser_can_close_the_survey(rt: Runtime, opened: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = opened
    token = link_of(rt, people[2].registration_id)
    assert survey_responses.close_survey(rt, spec.slug) is True
    assert survey_responses.close_survey(rt, spec.slug) is False
    with pytest.raises(SurveyClosed):
        survey_responses.submit(rt, spec.slug, token, ANSWERS)
    assert emails.enqueue_reminders(rt, spec.slug)["closed"] == 1


def test_reminders_only_for_those_who_have_not_answered(rt: Runtime, opened: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = opened
    survey_responses.submit(rt, spec.slug, link_of(rt, people[0].registration_id), ANSWERS)
    first = emails.enqueue_reminders(rt, spec.slug)
    assert (first["reminded"], first["answered"], first["already"]) == (2, 1, 0)
    assert emails.enqueue_reminders(rt, spec.slug)["reminded"] == 0
    with rt.store.session() as session:
        reminded = set(session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.kind == "survey-reminder")))
    assert reminded == {people[1].email, people[2].email}


def test_two_submissions_at_once_with_one_link_store_one_response(
    rt: Runtime, opened: tuple[EventSpec, list[Attendee]], database_url: str, tmp_path: Path
) -> None:
    spec, people = opened
    token = link_of(rt, people[0].registration_id)
    # two processes' worth of runtime on one database: only the database can keep them apart
    others = [Runtime.from_settings(rt.settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def answer(other: Runtime) -> None:
        barrier.wait()
        try:
            survey_responses.submit(other, spec.slug, token, ANSWERS)
            outcomes.append("stored")
        except AlreadyAnswered:
            outcomes.append("already")

    threads = [threading.Thread(target=answer, args=(other,)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.store.dispose()
    assert sorted(outcomes) == ["already", "stored"]
    assert responses(rt) == 1


def test_simulated_responses_go_through_the_forms_checks(rt: Runtime, opened: tuple[EventSpec, list[Attendee]]) -> None:
    spec, _people = opened
    stored = survey_answers.simulate_responses(rt, spec.slug, random.Random(7), share=1.0)
    assert stored == 3 == responses(rt)
    assert survey_answers.simulate_responses(rt, spec.slug, random.Random(7), share=1.0) == 0
    definition = questions.definition_for(discover(TEMPLATES)["fachvernetzung"], {})
    rng = random.Random(3)
    for _ in range(50):
        questions.parse_answers(definition, survey_answers.simulated_form(definition, rng))

"""Benchmark: the recap of a 200-attendee BarCamp (30 sessions, 10 photos) and an attendance list of 500 names.

    .venv/bin/python benchmarks/recap.py [--attendees 200] [--names 500]

Builds the event in a temporary SQLite store, generates the photos with Pillow, renders each PDF once to
warm up (fonts, templates) and then times one render of each. Target: each ≤ 3 s on the 2-core machine.
Last line: RESULT recap_s=<x> attendance_s=<y>
"""

from __future__ import annotations

import argparse
import gc
import resource
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import insert, select

from eventkit import runtime
from eventkit.core.settings import PROJECT_ROOT, Settings
from eventkit.db.store import Event, Person, Registration
from eventkit.events.events import save_event
from eventkit.model.formats import discover
from eventkit.model.spec import parse_spec
from eventkit.recap import document, intake
from eventkit.recap.attendance import render_attendance

SPEC = (PROJECT_ROOT / "examples" / "barcamp-hannover.yaml").read_text(encoding="utf-8")
NAMES = ["Renate Müller", "محمد الأحمد", "Дмитрий Иванов", "Ayşe Yılmaz", "François Dupont", "Olena Kovalenko"]


def make_event(rt: runtime.Runtime, slug: str, people: int, checked_in: int) -> None:
    text = SPEC.replace("slug: barcamp-2027-hannover", f"slug: {slug}").replace("capacity: 10", "capacity: null")
    save_event(rt.store, rt.settings, parse_spec(text, rt.settings.template_dir))
    with rt.store.session() as session:
        event_id = session.scalar(select(Event.id).where(Event.slug == slug))
        rows = [
            {
                "email": f"p{n}-{slug}@example.org",
                "name": f"{NAMES[n % len(NAMES)]} {n}",
                "organisation": f"Städtepartnerschaftsverein {n % 80}",
                "language": "de",
            }
            for n in range(people)
        ]
        ids = session.scalars(insert(Person).returning(Person.id), rows).all()
        now = datetime.now(UTC)
        session.execute(
            insert(Registration),
            [
                {
                    "event_id": event_id,
                    "person_id": pid,
                    "status": "registered",
                    "source": "invited",
                    "token_nonce": secrets.token_hex(16),
                    "revision": 0,
                    "created_at": now,
                    "updated_at": now,
                    "answers": {"photo_consent": n % 3 != 0, "list_organisation": n % 2 == 0},
                    "checked_in_at": now if n < checked_in else None,
                }
                for n, pid in enumerate(ids)
            ],
        )


def photos(folder: Path, count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n in range(count):
        img = Image.new("RGB", (3000, 2000), (40 + 20 * n, 90, 140))
        ImageDraw.Draw(img).ellipse((600, 300, 2400, 1700), fill=(230, 200 - 10 * n, 120))
        name = f"photos/IMG_{8029 + n}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        img.save(folder / name, "JPEG", quality=90)
        out.append(
            {
                "file": name,
                "caption": f"Thementisch {n + 1}",
                "usable": True,
                "people": [f"p{n + 1}-bench-barcamp@example.org"],
            }
        )
    return out


class Collections:
    """A gc callback: how often the cycle collector ran, and its CPU time (a quarter of the list's before)."""

    def __init__(self) -> None:
        self.count, self.cpu, self._started = 0, 0.0, 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.count += 1
            self.cpu += time.process_time() - self._started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attendees", type=int, default=200)
    parser.add_argument("--names", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        settings = Settings.from_env(
            {
                "EVENTKIT_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
                "EVENTKIT_VAR_DIR": str(tmp / "var"),
                "EVENTKIT_SECRET_KEY": "bench",
            }
        )
        rt = runtime.configure(settings)
        make_event(rt, "bench-barcamp", args.attendees, args.attendees)
        make_event(rt, "bench-list", args.names, 0)
        source = tmp / "input"
        data = {
            "summary": "Rund 200 Engagierte aus über 60 Städtepartnerschaften trafen sich zum BarCamp.\n\n" * 3,
            "sessions": [
                {
                    "round": r,
                    "table": t,
                    "title": f"Thema {r}.{t}: Mitgliedergewinnung und Sichtbarkeit",
                    "host": NAMES[(r * t) % len(NAMES)],
                }
                for r in range(1, 4)
                for t in range(1, 11)
            ],
            "ideas": [f"Idee {n}: niedrigschwellige Veranstaltungen zum „Reinschnuppern“ vor Ort" for n in range(25)],
            "outcomes": "Viele Ideen für gemeinsame nächste Schritte.",
            "photos": photos(source, 10),
        }
        started = time.perf_counter()
        given = intake.validate(data, discover(rt.settings.template_dir)["barcamp"])
        intake.store_recap(rt, "bench-barcamp", given, source)
        store_s = time.perf_counter() - started
        stored = intake.stored_recap(rt, "bench-barcamp")
        assert stored is not None

        document.render_recap(rt, "bench-barcamp", stored)  # warm-up: fonts, templates
        started, cpu = time.perf_counter(), time.process_time()
        made = document.render_recap(rt, "bench-barcamp", stored)
        recap_s, recap_cpu = time.perf_counter() - started, time.process_time() - cpu

        render_attendance(rt, "bench-list", blank=True)  # warm-up
        collecting = Collections()
        gc.callbacks.append(collecting)
        started, cpu = time.perf_counter(), time.process_time()
        listed = render_attendance(rt, "bench-list", blank=True)
        attendance_s, attendance_cpu = time.perf_counter() - started, time.process_time() - cpu
        gc.callbacks.remove(collecting)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rt.store.dispose()

    print(
        f"recap:      {args.attendees} attendees, 30 sessions, 10 photos (3000x2000 JPEG, scaled on input "
        f"in {store_s:.2f} s)"
    )
    print(
        f"            {made.pages} pages, {made.size / 1024:.0f} KB, {made.photos_used} photos used, "
        f"table of contents: {made.toc}; {recap_s:.2f} s wall, {recap_cpu:.2f} s CPU"
    )
    print(
        f"attendance: {listed.names} names, {listed.pages} pages; {attendance_s:.2f} s wall, {attendance_cpu:.2f} s CPU"
        f" (of it {collecting.cpu:.2f} s in {collecting.count} runs of Python's cycle collector)"
    )
    print(f"peak RSS {rss:.0f} MB; target ≤ 3 s each")
    print(
        "baseline (2-core development machine, shared): recap 1.0-1.4 s, attendance 1.9-2.1 s (target 3 s each); "
        "attendance about a fifth less CPU since the PDFs pause the cycle collector"
    )
    print(f"RESULT recap_s={recap_s:.2f} attendance_s={attendance_s:.2f}")


if __name__ == "__main__":
    main()

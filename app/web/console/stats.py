"""Statistics pages and the printable report: figures from app.services.statistics, charts
drawn on the server (app.engines.charts), each beside a table of the same numbers.

Anyone with a part in the event may read them: they hold counts, never personal data.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup

from app.engines.charts import Series, bar_chart, line_chart
from app.extensions import db
from app.i18n import format_list_local, format_local_date, join_sentences
from app.models import Event
from app.models.enums import MembershipRole
from app.orm import utcnow
from app.services import permissions, statistics
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user

# A bar chart of more lines than this would be a wall; its table still has every line.
CHART_LINES = 20


def format_rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


bp.add_app_template_global(format_rate, "format_rate")


def _svg(drawing: str) -> Markup:
    """A chart for the page as it is: app.engines.charts escapes every text it writes."""
    return Markup(drawing)  # noqa: S704


def group_title(table: statistics.GroupTable) -> str:
    if table.round_number is None:
        return _("By breakout group (first choice)")
    return _("By breakout group, round %(number)d", number=table.round_number)


bp.add_app_template_global(group_title, "group_title")


def _breakdown_chart(chart_id: str, title: str, lines: Sequence[statistics.Breakdown],
                     with_attendance: bool) -> Markup:
    shown = sorted(lines, key=lambda line: -line.signups)[:CHART_LINES] \
        if len(lines) > CHART_LINES else list(lines)
    series = [Series(_("Sign-ups"), [line.signups for line in shown]),
              Series(_("Confirmed"), [line.confirmed for line in shown])]
    if with_attendance:
        series.append(Series(_("Attended"), [line.attended for line in shown]))
    names = format_list_local(item.name for item in series)  # 申込数、参加確定、出席
    desc = _("%(series)s for each line; the table below gives the same numbers.",
             series=names)
    if len(lines) > len(shown):
        desc = join_sentences(desc, _(
            "The chart shows the %(count)d lines with the most sign-ups.", count=len(shown)))
    return _svg(bar_chart(chart_id, title, desc, [line.label for line in shown], series))


def _event_charts(figures: statistics.EventStatistics) -> dict[str, Markup]:
    has_data = figures.attendance.has_data
    charts: dict[str, Markup] = {}
    if figures.signups_by_day:
        days = figures.signups_by_day
        charts["signups"] = _svg(line_chart(
            "chart-signups", _("Sign-ups over time"),
            _("Total sign-ups by day, from %(first)s to %(last)s: %(total)d in all. The table "
              "below gives the number of each day.", first=format_local_date(days[0].day),
              last=format_local_date(days[-1].day), total=days[-1].cumulative),
            [day.day.strftime("%m/%d") for day in days],
            [Series(_("Total sign-ups"), [day.cumulative for day in days])]))
    for key, title, lines in [
        ("mode", _("By way of taking part"), figures.by_mode),
        ("prefecture", _("By prefecture"), figures.by_prefecture),
        ("organization", _("By type of organisation"), figures.by_organization_type),
        *((f"group-{table.round_number or 0}", group_title(table), table.lines)
          for table in figures.by_group),
    ]:
        if lines:
            charts[key] = _breakdown_chart(f"chart-{key}", title, lines, has_data)
    if figures.days:
        series = [Series(_("Checked in"), [day.checked_in for day in figures.days])]
        if any(day.visitors for day in figures.days):
            series.append(Series(_("Anonymous visitors"),
                                 [day.visitors for day in figures.days]))
        charts["days"] = _svg(bar_chart(
            "chart-days", _("Visitors per day"),
            _("People checked in and anonymous visitors on each open day; the table below "
              "gives the same numbers."),
            [format_local_date(day.day) for day in figures.days], series))
    return charts


def _render(template: str, event: Event) -> ResponseReturnValue:
    figures = statistics.event_statistics(db.session, event)
    can_edit = permissions.event_role(db.session, signed_in_user(), event.id) is (
        MembershipRole.ORGANIZER)
    return render_template(template, event=event, figures=figures,
                           charts=_event_charts(figures), can_edit=can_edit,
                           now=utcnow())


@bp.get("/events/<int:event_id>/stats")
def event_stats(event_id: int) -> ResponseReturnValue:
    return _render("console/stats/event.html", event_or_abort(event_id))


@bp.get("/events/<int:event_id>/report")
def event_report(event_id: int) -> ResponseReturnValue:
    return _render("console/stats/report.html", event_or_abort(event_id))


@bp.get("/stats")
def overall_stats() -> ResponseReturnValue:
    figures = statistics.overall_statistics(db.session, signed_in_user())
    charts: dict[str, Markup] = {}
    if figures.months:
        months = figures.months
        charts["months"] = _svg(bar_chart(
            "chart-months", _("Per month"),
            _("Sign-ups, confirmed and attended for the events of each month; the table below "
              "gives the same numbers."),
            [month.month for month in months],
            [Series(_("Sign-ups"), [m.signups for m in months]),
             Series(_("Confirmed"), [m.confirmed for m in months]),
             Series(_("Attended"), [m.attended for m in months])]))
    for key, title, areas in [("prefectures", _("By prefecture"), figures.prefectures),
                              ("municipalities", _("By municipality"), figures.municipalities)]:
        if areas:
            lines = [statistics.Breakdown(a.code, a.label, a.signups, a.confirmed, a.attended)
                     for a in areas]
            charts[key] = _breakdown_chart(f"chart-{key}", title, lines, True)
    return render_template("console/stats/overall.html", figures=figures, charts=charts)

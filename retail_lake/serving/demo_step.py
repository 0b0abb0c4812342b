"""The demo's last step: the serving views on the twin's Athena, then the HTML report of the gold tables and the
data-quality summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from retail_lake.serving.athena import create_views
from retail_lake.serving.report import write_report


def serving_report(twin: Any, stage: str, path: Path, console: Console) -> dict[str, Any]:
    """Create the views and write the report; returns what the demo's summary records."""
    outputs = twin.outputs
    serving = outputs.get(f"RetailLake-{stage}-Serving")
    batch = outputs.get(f"RetailLake-{stage}-Batch")
    if serving is None or batch is None:
        console.print(f"[yellow]report skipped:[/] the assembly has no RetailLake-{stage}-Serving stack")
        return {}
    athena, workgroup = twin.client("athena"), serving["AthenaWorkGroupName"]
    database = batch["AnalyticsDatabaseName"]
    views = create_views(athena, workgroup=workgroup, analytics_database=database)
    console.print(f"[bold]athena[/] views {', '.join(views)} in {database} (workgroup {workgroup})")
    report = write_report(athena, workgroup=workgroup, analytics_database=database, path=path,
                          quality_database=batch.get("QualityDatabaseName"))
    for problem in report.problems:
        console.print(f"[yellow]report query failed:[/] {problem}")
    return {"report": str(report.path), "report_sections": len(report.sections),
            "quality_failures": report.quality_rows}

"""The instructor's grader: `python -m tutor grade SUBMISSIONS --out DIR`.

    cli.py          the command: plan the class, grade (here, in N processes, or on Dask), write
    submissions.py  learner folders and zips read safely; a notebook's cells and its chapter
    session.py      the grading side of one notebook: a child per notebook, the proxy that the
                    checking engine calls, comparison and diagnosis done here
    worker.py       the sandboxed side: a pre-started process that forks a walled-in child per
                    notebook, runs its cells with IPython and calls the learner's functions
    limits.py       the walls: resource limits, namespaces, hidden folders, a throwaway user
    wire.py         the only language between the two sides: JSON and .npy, never pickle
    gradebook.py    gradebook.csv, grades.csv, grading.jsonl and the summary table
    feedback.py     one Markdown and one HTML file per learner
    report.py       report.html, the class at a glance
"""

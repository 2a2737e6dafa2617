"""The repository root is an nbgrader course directory: one lesson is one assignment.

Lesson sources are jupytext scripts, solutions/<lesson>/<lesson>.py; `bootcamp build`
writes solutions/<lesson>/<lesson>.ipynb from them and then runs nbgrader's own
generate_assignment, exactly as `nbgrader generate_assignment <lesson>` would.
"""

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# The .py lesson source holds the solutions, and walkthroughs.md the third tier of hints
# (course/learner/walkthrough.py): neither may be copied into exercises/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", ".*", "walkthroughs.md"]

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError(\"replace this line with your code\")",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# nbgrader stops a cell after 30 s by default and scores what depended on it 0: on 2 cores lesson
# 4.4's accuracy_per_layer_test takes longer, and a correct 4.4 scored 23/27. CI flags any cell of
# a solution that runs for more than half of this (course/authoring/verify.py).
c.Execute.timeout = 600

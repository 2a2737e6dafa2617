"""What a course author runs: lesson sources, the build, the syllabus, and what CI proves.

    lessons.py     find lessons, read their one source (solutions/<slug>/<slug>.py), build exercises/
    syllabus.py    syllabus.toml as data: modules, lessons, prerequisites, levels, papers
    runner.py      run a notebook headlessly and collect what every graded test said
    verify.py      CI's proofs: the solution passes; every test fails on the stubs, on `pass`, hidden alone
    hint_leak.py   how much of each solution its hint gives away (3-gram overlap), held to a limit by a test
    timing.py      learners' measured times pooled into medians beside the estimates (timing.json)
    mutation.py    mutation testing of a lesson's tests: mutants of each solution (and mutants/<slug>.toml's
                   catalogue of learner mistakes) must fail a graded test, most of them a visible one
"""

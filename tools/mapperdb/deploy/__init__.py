"""``mapperdb deploy``: validate, plan, and apply exactly a reviewed plan, then migrate.

terraform.py runs the binary, plan.py reads a saved plan, steps.py times and records steps so a
rerun resumes, smoke.py checks the database after migrations, deployment.py composes them and
cli.py is the command.
"""

"""Create, transition and read experiments. ORM rows stay in here; callers get pydantic views."""

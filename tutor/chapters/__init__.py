"""One module per chapter (`chNN_topic.py`), each listing its `PROBLEMS` and `QUIZZES`, and the
building blocks they share (`blocks.py`, `_inputs.py`). `tutor.registry` collects them."""

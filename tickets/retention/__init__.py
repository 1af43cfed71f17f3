"""Retention and erasure: what is removed of old closed tickets (purge) and of one person
(erasure), keeping every row the monthly report counts."""

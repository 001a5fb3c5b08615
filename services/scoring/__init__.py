"""The scoring service (评价): ratings and their follow-up, cards, rankings anyone can recompute."""

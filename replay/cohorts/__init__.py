"""Replay cohorts: one change replayed over a frozen set of real runs, admitted within the replay quota, judged in
aggregate (issue 31). Models here (the replay app's), services beside them; the API in `api`, the pages in `views`.
"""

"""`vigil devdata build`: development data sets built from fetched public repositories.

Each source is one small module under :mod:`vigil.apps.devdata.sources` that says which files
of which repository hold what (labels taken from the source's own folder and file names);
:mod:`vigil.apps.devdata.build` reads the snapshots with git and writes the agreed layout
(frames/<set>/ for `vigil bench accuracy`, sessions/<set>/ for `vigil bench sessions`).
"""

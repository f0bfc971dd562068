"""Spreadsheet files in and out: the roster files the field has, the exports officials expect.

* :mod:`fangkong.lib.spreadsheets.read` reads .xlsx, .xls and .csv/.txt files cell by cell
  into one neutral shape (:class:`~fangkong.lib.spreadsheets.read.Sheet`) and finds the
  header rows;
* :mod:`fangkong.lib.spreadsheets.write` writes .xlsx and .csv exports;
* :mod:`fangkong.lib.spreadsheets.exports` holds what every export shares: the file
  handed to the view, the exporter's stamp, the area line.

Nothing in this package knows about residents: mapping columns to fields and checking values
is the importer's work. Import from the submodules; this package re-exports nothing, so that
loading one side never loads the other.
"""

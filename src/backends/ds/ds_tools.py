# The ds tools' own code, run by the session interpreter in a scratch namespace (see ds/index.ts):
# an overview of a seed folder's CSV files and a preview of one, with pandas when it is there and
# the csv module when it is not. The call appended below this file names the function and args.
import csv
import os


def _frame(path):
    import pandas

    return pandas.read_csv(path)


def _overview(name, path):
    try:
        df = _frame(path)
    except ImportError:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        header = rows[0] if rows else []
        return f"{len(rows) - 1 if rows else 0} rows, {len(header)} columns: {', '.join(header)}"
    numeric = df.select_dtypes(include="number").columns.tolist()
    cols = df.columns.tolist()
    shown = ", ".join(map(str, cols[:8])) + (f" (+{len(cols) - 8} more)" if len(cols) > 8 else "")
    missing = int(df.isnull().sum().sum())
    duplicates = int(df.duplicated().sum())
    text = (
        f"{df.shape[0]} rows, {df.shape[1]} columns: {shown}. "
        f"{len(numeric)} numeric and {len(cols) - len(numeric)} other columns. "
    )
    if missing or duplicates:
        text += f"Needs cleaning: {missing} missing values, {duplicates} duplicate rows."
    else:
        text += "No missing values, no duplicate rows."
    return text


def inspect_data(folder, max_csv, max_chars):
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".csv"))
    if not names:
        print(f"No CSV files in {folder}.")
        return
    parts = []
    for name in names[:max_csv]:
        try:
            parts.append(f"{name}:\n{_overview(name, os.path.join(folder, name))}")
        except Exception as exc:
            parts.append(f"{name}:\ncould not be read: {exc}")
    text = "\n\n".join(parts)
    if len(names) > max_csv:
        text += f"\n\n(first {max_csv} of {len(names)} CSV files)"
    if len(text) > max_chars:
        text = text[:max_chars] + "\n\n(summary cut at backends.ds.ds_summary_max_chars)"
    print(text)


def read_csv(folder, name, max_rows):
    path = os.path.join(folder, os.path.basename(name))
    if not os.path.isfile(path):
        print(f"No file {os.path.basename(name)} in the seed folder.")
        return
    try:
        df = _frame(path)
        total, body = len(df), df.head(max_rows).to_csv(index=False)
    except ImportError:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        total, body = max(len(rows) - 1, 0), "".join(",".join(r) + "\n" for r in rows[: max_rows + 1])
    note = f"\n(first {max_rows} of {total} rows)" if total > max_rows else ""
    print(f"{os.path.basename(path)}\n{body}{note}")

// How a table fits a terminal's width: which columns stay and how wide each is drawn. Plain
// arithmetic over the columns' natural widths (measured once over all rows), so fitting a table
// of 10,000 rows costs no more than drawing it; cli-table3 then cuts each cell to its column
// with `…`.

/** What a table gives up, in order, when it is wider than the terminal. */
export interface TableFit {
  /** Low-value columns (by header), dropped in this order while the table is still too wide. */
  drop: readonly string[];
  /** Then columns cut with `…` (names, details), never below `min` characters of text. */
  truncate: readonly { column: string; min: number }[];
}

/** The columns kept (indices into the header) and the width each is drawn at, padding included. */
export interface FittedColumns {
  keep: number[];
  colWidths: number[];
}

/** Narrower terminals are drawn as if this wide: every table fits it with all but one character cut. */
export const MIN_WIDTH = 40;

/** Padding cli-table3 puts around a cell's text: one space each side. */
const PADDING = 2;

/** A table line's width: one border before each column, one after the last, and the columns. */
export function tableWidth(colWidths: readonly number[]): number {
  return colWidths.reduce((sum, width) => sum + width + 1, 1);
}

/**
 * Fit columns of natural widths `natural` (text plus padding, as cli-table3 sizes them) into
 * `width`: as they are when they fit; else drop `fit.drop` columns in order until the rest fit;
 * else cut the `fit.truncate` columns, the widest first, down to their minimum; else cut every
 * column kept, the widest first, down to one character (`…`). `width` undefined: no limit.
 */
export function fitColumns(head: readonly string[], natural: readonly number[], fit: TableFit, width: number | undefined): FittedColumns {
  let keep = head.map((_, i) => i);
  const widthOf = (columns: readonly number[]) => tableWidth(columns.map((i) => natural[i]!));
  if (width === undefined || widthOf(keep) <= width) return { keep, colWidths: [...natural] };
  const limit = Math.max(width, MIN_WIDTH);
  for (const column of fit.drop) {
    if (widthOf(keep) <= limit) break;
    keep = keep.filter((i) => head[i] !== column);
  }
  const widths = keep.map((i) => natural[i]!);
  // Names and details first, each down to its minimum; the other columns keep their width.
  const minimum = keep.map((i, k) => {
    const truncate = fit.truncate.find((t) => t.column === head[i]);
    return truncate ? Math.min(widths[k]!, PADDING + truncate.min) : widths[k]!;
  });
  shrink(widths, minimum, tableWidth(widths) - limit);
  shrink(
    widths,
    widths.map((w) => Math.min(w, PADDING + 1)),
    tableWidth(widths) - limit,
  );
  return { keep, colWidths: widths };
}

/**
 * Take `excess` off `widths` (in place), the widest columns first, none below its floor: each
 * column is cut to max(floor, min(width, level)) at the highest level that takes enough off.
 */
function shrink(widths: number[], floors: readonly number[], excess: number): void {
  if (excess <= 0) return;
  const at = (level: number) => widths.map((w, k) => Math.max(floors[k]!, Math.min(w, level)));
  const cut = (level: number) => at(level).reduce((sum, w, k) => sum + widths[k]! - w, 0);
  if (cut(0) <= excess) {
    widths.splice(0, widths.length, ...at(0));
    return;
  }
  // Bisection: cut(low) > excess >= cut(high); ends with high = low + 1.
  let low = 0;
  let high = Math.max(...widths);
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (cut(mid) > excess) low = mid;
    else high = mid;
  }
  // At `high` a little too little comes off: the rest, one each, from columns standing at `high`
  // above their floor (there are cut(low) - cut(high) of them, more than what is left).
  let left = excess - cut(high);
  const cutWidths = at(high).map((w, k) => {
    if (left > 0 && w === high && w > floors[k]!) {
      left -= 1;
      return w - 1;
    }
    return w;
  });
  widths.splice(0, widths.length, ...cutWidths);
}

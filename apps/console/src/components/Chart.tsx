// SVG charts drawn here (no chart library): lines or bars per day, styled from the stylesheet,
// each with a text summary for screen readers and the numbers as a table on request.

export interface Series {
  name: string;
  values: number[];
}

interface ChartProps {
  title: string;
  labels: string[];
  series: Series[];
  kind: 'line' | 'bar';
}

// Drawn at about its real size in the layout, so the axis text stays readable.
const WIDTH = 420;
const HEIGHT = 200;
const PAD = { top: 12, right: 10, bottom: 26, left: 40 };

/** A round upper bound for the y axis (1, 2, 5 × 10^n), so ticks read well. */
export function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function Chart({ title, labels, series, kind }: ChartProps) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const n = Math.max(labels.length, 1);
  const x = (i: number) => PAD.left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const ticks = [0, max / 2, max];
  const every = Math.max(1, Math.ceil(n / 7));
  const totals = series.map((s) => `${s.name} ${s.values.reduce((a, b) => a + b, 0)}`).join(', ');
  const slot = plotW / n;
  const barW = Math.max(2, (slot * 0.8) / Math.max(series.length, 1));

  return (
    <figure className="chart">
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="legend" aria-hidden="true">
          {series.map((s, i) => (
            <span key={s.name} className={`legend-item series-${i + 1}`}>
              {s.name}
            </span>
          ))}
        </span>
      </figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`${title} over ${labels.length} days: ${totals}`}
      >
        {ticks.map((t) => (
          <g key={t} className="tick">
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(t)} y2={y(t)} />
            <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end">
              {Number.isInteger(t) ? t : t.toFixed(1)}
            </text>
          </g>
        ))}
        {labels.map((label, i) =>
          i % every === 0 ? (
            <text
              key={label}
              className="axis-label"
              x={kind === 'bar' ? PAD.left + slot * (i + 0.5) : x(i)}
              y={HEIGHT - 8}
              textAnchor="middle"
            >
              {label.slice(5)}
            </text>
          ) : null,
        )}
        {kind === 'line'
          ? series.map((s, si) => (
              <g key={s.name} className={`series series-${si + 1}`}>
                <polyline
                  fill="none"
                  points={s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ')}
                />
                {s.values.map((v, i) => (
                  <circle key={i} cx={x(i)} cy={y(v)} r={3} />
                ))}
              </g>
            ))
          : series.map((s, si) => (
              <g key={s.name} className={`series series-${si + 1}`}>
                {s.values.map((v, i) => (
                  <rect
                    key={i}
                    x={PAD.left + slot * i + slot * 0.1 + barW * si}
                    y={y(v)}
                    width={barW}
                    height={Math.max(0, PAD.top + plotH - y(v))}
                  />
                ))}
              </g>
            ))}
      </svg>
      <details>
        <summary>Show the numbers</summary>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Day</th>
                {series.map((s) => (
                  <th key={s.name} scope="col">
                    {s.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {labels.map((label, i) => (
                <tr key={label}>
                  <th scope="row">{label}</th>
                  {series.map((s) => (
                    <td key={s.name}>{s.values[i] ?? 0}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}

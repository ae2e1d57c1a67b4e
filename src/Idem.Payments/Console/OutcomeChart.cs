using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Html;

namespace Idem.Payments.Console;

/// <summary>
/// The overview's chart, drawn on the server as SVG: a stacked column per minute over the last hour, one colour per outcome. It
/// holds only numbers and fixed labels. Each outcome's group carries its total in <c>data-total</c>, which the tests read.
/// </summary>
internal static class OutcomeChart
{
    private const int Width = 720;
    private const int Height = 240;
    private const int Left = 40;
    private const int Right = 10;
    private const int Top = 10;
    private const int Bottom = 30;

    public static readonly (Outcome Outcome, string Name, string Label, string Color)[] Series =
    [
        (Outcome.Executed, "executed", "executed", "#2b6cb0"),
        (Outcome.Replayed, "replayed", "replayed", "#2f855a"),
        (Outcome.InProgress, "409", "409 in progress", "#d69e2e"),
        (Outcome.Mismatch, "422", "422 key reused", "#c05621"),
        (Outcome.StoreUnavailable, "503", "503 store unavailable", "#c53030"),
    ];

    public static HtmlString Render(OutcomeMinute[] minutes)
    {
        // Stacked columns, one per minute: the scale is the busiest minute's total.
        var max = Math.Max(1, minutes.Max(m => m.Counts.Sum()));
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        var slot = plotWidth / (double)minutes.Length;
        var bar = Math.Max(1, slot - 2);
        double Scale(long value) => value * plotHeight / (double)max;

        var svg = new StringBuilder(8192);
        svg.Append(Invariant($"<svg id=\"outcomes\" role=\"img\" aria-labelledby=\"outcomes-title\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\">"));
        svg.Append("<title id=\"outcomes-title\">Request outcomes per minute, last hour</title>");

        // Axes, the top of the scale and the hour's two ends.
        svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{Top + plotHeight}\" x2=\"{Width - Right}\" y2=\"{Top + plotHeight}\" stroke=\"#999\"/>"));
        svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Top + plotHeight}\" stroke=\"#999\"/>"));
        svg.Append(Invariant($"<text x=\"{Left - 4}\" y=\"{Top + 8}\" text-anchor=\"end\" font-size=\"11\">{max}</text>"));
        svg.Append(Invariant($"<text x=\"{Left - 4}\" y=\"{Top + plotHeight}\" text-anchor=\"end\" font-size=\"11\">0</text>"));
        svg.Append(Invariant($"<text x=\"{Left}\" y=\"{Height - 8}\" font-size=\"11\">{minutes[0].Start:HH:mm}</text>"));
        svg.Append(Invariant($"<text x=\"{Width - Right}\" y=\"{Height - 8}\" text-anchor=\"end\" font-size=\"11\">{minutes[^1].Start:HH:mm} UTC</text>"));

        // One group per series; each minute's rectangle sits on the ones of the series drawn before it.
        var stacked = new double[minutes.Length];
        foreach (var (outcome, name, label, color) in Series)
        {
            var total = minutes.Sum(m => m[outcome]);
            svg.Append(Invariant($"<g class=\"series\" data-series=\"{name}\" data-total=\"{total}\" fill=\"{color}\"><title>{label}: {total} in the last hour</title>"));
            for (var i = 0; i < minutes.Length; i++)
            {
                var count = minutes[i][outcome];
                if (count == 0)
                {
                    continue;
                }

                var height = Scale(count);
                stacked[i] += height;
                svg.Append(Invariant($"<rect x=\"{Left + (i * slot) + 1:0.#}\" y=\"{Top + plotHeight - stacked[i]:0.#}\" width=\"{bar:0.#}\" height=\"{height:0.#}\"><title>{minutes[i].Start:HH:mm} {label}: {count}</title></rect>"));
            }

            svg.Append("</g>");
        }

        svg.Append("</svg>");
        return new HtmlString(svg.ToString());
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}

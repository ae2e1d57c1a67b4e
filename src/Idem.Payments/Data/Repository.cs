using System.Data.Common;
using System.Globalization;
using System.Text;

namespace Idem.Payments.Data;

/// <summary>
/// What every repository shares: commands in the unit of work it is given, with named parameters that both providers bind.
/// </summary>
internal abstract class Repository(UnitOfWork work)
{
    protected ISqlDialect Dialect => work.Dialect;

    protected DbCommand Command(string sql) => work.Command(sql);

    protected static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    /// <summary>
    /// One <c>INSERT</c> of many rows into <paramref name="table"/>, in the order given (so an identity column numbers them
    /// in that order). The text is built from names only; every value is a parameter.
    /// </summary>
    protected DbCommand InsertRows<T>(string table, IReadOnlyList<string> columns, IReadOnlyList<T> rows, Func<T, object?[]> values)
    {
        var command = Command("");
        command.CommandText = $"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES {Rows(command, columns.Count, rows, values)};";
        return command;
    }

    /// <summary>
    /// The rows of a <c>VALUES</c> list, <c>(@r0c0, @r0c1), (@r1c0, @r1c1)</c>, each value added to
    /// <paramref name="command"/> as the parameter of its row and column.
    /// </summary>
    protected static string Rows<T>(DbCommand command, int columnCount, IReadOnlyList<T> rows, Func<T, object?[]> values)
    {
        var sql = new StringBuilder(rows.Count * columnCount * 8);
        for (var row = 0; row < rows.Count; row++)
        {
            var rowValues = values(rows[row]);
            sql.Append(row == 0 ? "(" : ", (");
            for (var column = 0; column < columnCount; column++)
            {
                var name = string.Create(CultureInfo.InvariantCulture, $"@r{row}c{column}");
                sql.Append(column == 0 ? "" : ", ").Append(name);
                Add(command, name, rowValues[column]);
            }

            sql.Append(')');
        }

        return sql.ToString();
    }
}

/// <summary>A value that is either given or absent (a member missing from a PATCH), told apart from a given null.</summary>
internal readonly record struct Optional<T>(bool IsSet, T Value)
{
    public static Optional<T> Unset => default;

    public static Optional<T> Of(T value) => new(true, value);
}

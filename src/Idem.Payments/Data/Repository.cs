using System.Data.Common;

namespace Idem.Payments.Data;

/// <summary>
/// What every repository shares: commands on a connection it is given (and, for the writes of a keyed request, its
/// transaction), with named parameters that both providers bind.
/// </summary>
internal abstract class Repository(DbConnection connection, DbTransaction? transaction)
{
    /// <summary>The transaction the commands join (null for reads on a connection of their own).</summary>
    public DbTransaction? Transaction => transaction;

    protected DbCommand Command(string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    protected static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}

/// <summary>A value that is either given or absent (a member missing from a PATCH), told apart from a given null.</summary>
internal readonly record struct Optional<T>(bool IsSet, T Value)
{
    public static Optional<T> Unset => default;

    public static Optional<T> Of(T value) => new(true, value);
}

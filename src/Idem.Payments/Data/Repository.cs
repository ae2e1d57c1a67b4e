using System.Data.Common;

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
}

/// <summary>A value that is either given or absent (a member missing from a PATCH), told apart from a given null.</summary>
internal readonly record struct Optional<T>(bool IsSet, T Value)
{
    public static Optional<T> Unset => default;

    public static Optional<T> Of(T value) => new(true, value);
}

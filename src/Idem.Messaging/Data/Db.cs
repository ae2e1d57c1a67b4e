using System.Data;
using System.Data.Common;
using System.Runtime.InteropServices;

namespace Idem.Messaging.Data;

/// <summary>Plain ADO.NET helpers: commands bound to a transaction, typed parameters.</summary>
internal static class Db
{
    public static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    public static void Add(DbCommand command, string name, DbType type, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.DbType = type;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    public static void AddText(DbCommand command, string name, string? value) => Add(command, name, DbType.String, value);

    public static void AddInt(DbCommand command, string name, int value) => Add(command, name, DbType.Int32, value);

    public static void AddBytes(DbCommand command, string name, ReadOnlyMemory<byte> value)
        => Add(command, name, DbType.Binary, MemoryMarshal.TryGetArray(value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : value.ToArray());

    public static long ToInt64(object value) => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
}

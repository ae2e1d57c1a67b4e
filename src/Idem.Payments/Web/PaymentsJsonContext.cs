using System.Text.Json.Serialization;
using System.Text.Json;
using Idem.Payments.Accounts;
using Idem.Payments.Batches;
using Idem.Payments.CardPayments;
using Idem.Payments.Customers;
using Idem.Payments.IdempotencyKeys;
using Idem.Payments.Statements;
using Idem.Payments.Holds;
using Idem.Payments.Transfers;

namespace Idem.Payments.Web;

/// <summary>
/// Every type the API reads or writes, source-generated. Strict on input: numbers must be JSON numbers (no "100"),
/// unknown or repeated members are refused, names are matched exactly.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.Strict,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    PropertyNameCaseInsensitive = false,
    AllowDuplicateProperties = false)]
[JsonSerializable(typeof(CreateAccountRequest))]
[JsonSerializable(typeof(CreateDepositRequest))]
[JsonSerializable(typeof(CreateTransferRequest))]
[JsonSerializable(typeof(AccountResponse))]
[JsonSerializable(typeof(AccountBalanceAtResponse))]
[JsonSerializable(typeof(DepositResponse))]
[JsonSerializable(typeof(TransferResponse))]
[JsonSerializable(typeof(CreateHoldRequest))]
[JsonSerializable(typeof(CaptureHoldRequest))]
[JsonSerializable(typeof(HoldResponse))]
[JsonSerializable(typeof(EntryListResponse))]
[JsonSerializable(typeof(UpdateAccountRequest))]
[JsonSerializable(typeof(PutCustomerRequest))]
[JsonSerializable(typeof(CustomerResponse))]
[JsonSerializable(typeof(IdempotencyKeyResponse))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(Dictionary<string, string[]>))]
[JsonSerializable(typeof(CreatePaymentRequest))]
[JsonSerializable(typeof(CreateRefundRequest))]
[JsonSerializable(typeof(PaymentResponse))]
[JsonSerializable(typeof(RefundResponse))]
[JsonSerializable(typeof(RefundListResponse))]
[JsonSerializable(typeof(AuditResponse))]
[JsonSerializable(typeof(StatementResponse))]
[JsonSerializable(typeof(CreateBatchRequest))]
[JsonSerializable(typeof(BatchResponse))]
[JsonSerializable(typeof(BatchItemError))]
[JsonSerializable(typeof(BatchItemResult[]))]
[JsonSerializable(typeof(CapturePaymentRequest))]
[JsonSerializable(typeof(CancelPaymentRequest))]
internal sealed partial class PaymentsJsonContext : JsonSerializerContext
{
    /// <summary>Makes the HTTP JSON options match the context, with the context first in the resolver chain.</summary>
    public static void Configure(JsonSerializerOptions options)
    {
        options.TypeInfoResolverChain.Insert(0, Default);
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.PropertyNameCaseInsensitive = false;
        options.AllowDuplicateProperties = false;
    }
}

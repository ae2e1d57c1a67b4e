using Idem.Payments;

await PaymentsApp.Build(args).RunAsync().ConfigureAwait(false);

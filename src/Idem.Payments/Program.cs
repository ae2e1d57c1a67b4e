using Idem.Payments;
using Idem.Payments.Processor;

// `--processor` runs the card processor simulator on its own (tests run it as a process that outlives a killed
// payments node); anything else runs the payments service, which hosts a simulator of its own unless
// Processor:BaseUrl points at one.
if (args.Length > 0 && args[0] == "--processor")
{
    await ProcessorSimulator.Build(args[1..]).RunAsync().ConfigureAwait(false);
}
else
{
    await PaymentsApp.Build(args).RunAsync().ConfigureAwait(false);
}

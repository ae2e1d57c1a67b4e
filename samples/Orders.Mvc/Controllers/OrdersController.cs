using Idem.AspNetCore;
using Microsoft.AspNetCore.Mvc;

[ApiController]
[Route("orders")]
public sealed class OrdersController(OrdersDb db) : ControllerBase
{
    // The key, the order and the stored 201 commit in one transaction: a retry with the same key gets the same order back.
    [HttpPost]
    [Idempotent(Transactional = true)]
    public async Task<IActionResult> Create(NewOrder request)
    {
        var order = new Order { Id = Guid.NewGuid(), Customer = request.Customer, Item = request.Item, Quantity = request.Quantity };
        db.Orders.Add(order);
        await db.SaveChangesAsync(HttpContext.RequestAborted);
        return CreatedAtAction(nameof(Get), new { id = order.Id }, order);
    }

    [HttpGet("{id:guid}")]
    public async Task<IActionResult> Get(Guid id)
        => await db.Orders.FindAsync([id], HttpContext.RequestAborted) is { } order ? Ok(order) : NotFound();
}

public sealed record NewOrder(string Customer, string Item, int Quantity);

"""Every text the cashier page's JavaScript shows, marked for gettext.

The page gets them translated into its language as JSON (``#till-config``),
so the JavaScript holds no words of its own. Placeholders are ``{name}``
(filled in by the page), not ``%(name)s``: these strings are never
%-formatted in Python.
"""

from __future__ import annotations

from flask_babel import gettext

from shared.identifiers import N_

TEXTS: dict[str, str] = {
    # the agent and the key
    "agent_unreachable": N_("The store agent does not answer"),
    "link_online": N_("Connected to head office"),
    "link_offline": N_("No link to head office: redemption is limited"),
    "no_rules": N_("No accrual rules installed"),
    "key_missing": N_("Enter the terminal key."),
    "key_rejected": N_("The terminal key was not accepted"),
    "key_rejected_detail": N_("Enter the current key of this terminal; the technician can make a new one."),
    "setup_current": N_("This device is connected as terminal {terminal}."),
    "no_answer_title": N_("The agent did not answer"),
    "no_answer_detail": N_("Check that the store PC is on and the network works."),
    "http_error_title": N_("The agent answered with an error ({status})"),
    "sending": N_("Sending…"),
    # the customer
    "identify_empty": N_("Scan the card or type a card number or phone."),
    "identifying": N_("Looking for the customer…"),
    "register_this": N_("Register a new customer"),
    "card_not_registered": N_("This card is not registered here yet."),
    "card_not_registered_detail": N_(
        "Its points accrue and wait for the customer; they can be redeemed once the card is registered (here or "
        "at another store) and its balance has come from the central server."
    ),
    "no_name": N_("Customer without a name"),
    "card_number": N_("card {card}"),
    "warn_card_blocked": N_("The card is blocked: no points can be earned or redeemed with it."),
    "warn_card_reassigned": N_("This card was replaced by a new one: ask for the new card."),
    "warn_customer_blocked": N_("The customer's account is blocked: no points can be earned or redeemed."),
    "warn_offline": N_("No link to head office: the customer can redeem only a limited amount now."),
    # the purchase
    "purchase_line_name": N_("Purchase"),
    "amount_missing": N_("Enter the purchase amount."),
    "amount_invalid": N_("The amount is not valid: enter rubles and kopecks, e.g. 123.45."),
    "redeem_at_most": N_("At most {max} points can be redeemed on this receipt."),
    "redeem_invalid": N_("The points to redeem are not valid: enter e.g. 50 or 50.00."),
    "lines_missing": N_("Enter at least one item with its price."),
    "line_name": N_("Item {n}: name"),
    "line_quantity": N_("Item {n}: quantity"),
    "line_price": N_("Item {n}: price, ₽"),
    "line_discount": N_("Item {n}: discount, ₽"),
    "line_category": N_("Item {n}: category"),
    "line_amount": N_("Item {n}: amount"),
    "line_remove": N_("Remove item {n}"),
    "line_name_placeholder": N_("Item name"),
    "line_quantity_invalid": N_("Item {n}: the quantity is not valid (e.g. 2 or 0.455)."),
    "line_price_missing": N_("Item {n}: enter the price."),
    "line_price_invalid": N_("Item {n}: the price is not valid: enter rubles and kopecks, e.g. 123.45."),
    "line_discount_invalid": N_("Item {n}: the discount is not valid: enter rubles and kopecks, e.g. 10.00."),
    "line_discount_too_big": N_("Item {n}: the discount is larger than the item's cost."),
    # the commit
    "commit": N_("Commit"),
    "committing": N_("Committing the receipt…"),
    "retry_commit": N_("Send again"),
    "retry_same_receipt": N_(
        "The receipt may or may not be recorded: press \u201cSend again\u201d. The same "
        "receipt is sent, it cannot be counted twice."
    ),
    "pending_title": N_("The last operation got no answer"),
    "pending_detail": N_(
        "Press \u201cSend again\u201d to finish it first (it cannot be counted "
        "twice), or \u201cNew sale\u201d to drop it."
    ),
    "discard_pending_confirm": N_("Drop it? Press again"),
    "new_sale": N_("New sale"),
    "committed": N_("Receipt committed"),
    "committed_again": N_("Receipt already committed: the first result"),
    "reprint": N_("Print the slip again"),
    "reprint_queued": N_("The slip is being printed."),
    # the redemption confirmation code (docs/messages.md, "Redemption confirmation")
    "code_send": N_("Send the code"),
    "code_resend": N_("Send a new code"),
    "code_sending": N_("Asking head office to send the code…"),
    "code_sent_to": N_("The code was sent by {channel} to {to}; it is valid until {until}."),
    "code_sent": N_("The code was sent by {channel}; it is valid until {until}."),
    "code_send_first": N_("Press \u201cSend the code\u201d: this store redeems points only with the customer's code."),
    "code_missing": N_("Type the code the customer reads out (6 digits)."),
    "code_again": N_("Send a new code to the customer and type it in."),
    "code_points": N_("The code confirms at most {max} points: send a new code for this amount."),
    "code_no_points": N_("Enter the points to redeem first."),
    "channel_sms": N_("SMS"),
    "channel_voice": N_("a voice call"),
    "channel_email": N_("email"),
    "channel_push": N_("a push notification"),
    "channel_telegram": N_("Telegram"),
    # returns
    "no_receipts": N_("This till has no receipts yet."),
    "pick_receipt": N_("Choose a receipt to return or cancel it."),
    "anonymous": N_("no customer"),
    "status_cancelled": N_("Cancelled"),
    "status_refunded": N_("Returned {amount}"),
    "receipt_title": N_("Receipt {receipt}"),
    "total_is": N_("total {amount}"),
    "points_of_receipt": N_("Points earned {accrued}, redeemed {redeemed}"),
    "line_n": N_("Item {n}"),
    "col_item": N_("Item"),
    "col_quantity": N_("Qty"),
    "col_returned": N_("Returned"),
    "col_amount": N_("Amount"),
    "col_return_now": N_("Return now"),
    "refund_quantity_of": N_("Quantity to return: {name}"),
    "refund_select_all": N_("Everything left"),
    "refund_submit": N_("Make the return"),
    "refund_nothing": N_("Enter the quantity to return for at least one item."),
    "refund_quantity_invalid": N_("{name}: the quantity is not valid (e.g. 1 or 0.5)."),
    "refund_more_than_left": N_("{name}: at most {left} can be returned."),
    "refund_done": N_(
        "Return made: {amount} back to the customer, {redeemed} points given back, {accrued} earned points taken back."
    ),
    "cancel_receipt": N_("Cancel the receipt"),
    "cancel_confirm": N_("Cancel it? Press again"),
    "cancel_done": N_(
        "Receipt cancelled: {amount} back to the customer, {redeemed} points given "
        "back, {accrued} earned points taken back."
    ),
    "balance_now": N_("Customer's balance: {balance}."),
    "retry_same_refund": N_("Press the button again: the same operation is sent, it cannot happen twice."),
    "pending_refund_detail": N_("Finish the return of the selected receipt first: press its button again."),
    # registration
    "phone_missing": N_("Enter the customer's phone."),
    "consent_missing": N_("The customer's consent to personal data processing is required."),
    "retry_same_registration": N_(
        "Press \u201cRegister\u201d again: the same registration is sent, it cannot happen twice."
    ),
    "registered_who": N_("{name}, phone {phone}"),
    "code_invalid": N_("The code has 6 digits."),
    "birthday_invalid": N_("The birthday is not a date: enter e.g. 17.05 or 17.05.1990."),
    "phone_confirmed": N_("Phone confirmed."),
    # card replacement
    "replace_number_missing": N_("Scan or type the new card's number."),
    "retry_same_replacement": N_(
        "Press \u201cGive the new card\u201d again: the same replacement is sent, it cannot happen twice."
    ),
    "card_replaced": N_("The new card {card} is the customer's now."),
    "card_replaced_detail": N_("The balance stayed; the old card is refused from now on."),
}


def translated_texts() -> dict[str, str]:
    """All of :data:`TEXTS` in the request's language."""
    return {key: gettext(text) for key, text in TEXTS.items()}

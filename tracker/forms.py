"""Flask-WTF forms: they carry the CSRF token; the order rules themselves live in domain/intake.py."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me logged in on this device")


class OrderForm(FlaskForm):
    """Top-level fields; the item rows are read from items-N-* fields (any number of rows)."""

    customer_name = StringField("Customer name", validators=[DataRequired(), Length(max=200)])
    customer_email = StringField("Email", validators=[Optional(), Length(max=254)])
    customer_phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    due_date = DateField("Due date", validators=[Optional()])
    rush = BooleanField("Rush")
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=2000)])


class MoveForm(FlaskForm):
    to = StringField("To stage", validators=[Optional(), Length(max=40)])
    note = TextAreaField("Reason or note", validators=[Optional(), Length(max=2000)])


class CancelForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(message="Say why the order is cancelled."), Length(max=2000)])
